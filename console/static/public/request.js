// A zone's patient request page (hub/api/public.py): no framework, no login, zh/en with a switch.
const TEXT = {
  zh: {
    title: "需要帮助？", where: "位置：", lang: "English", send: "发送",
    wheelchair: "需要轮椅", assist: "陪同 / 引导", emergency: "紧急情况（晕倒、冲突）", complaint: "投诉",
    topic: "投诉类别", phone: "手机号（选填，仅用于告知处理结果）",
    phone_note: "号码在通知发出后即删除，最长保留30天。", detail: "情况说明（选填）",
    topics: { wait_time: "等候时间", attitude: "服务态度", environment: "环境", billing: "收费", facility: "设施", other: "其他" },
    sent: "已收到，编号 #{id}。工作人员正在赶来。", sent_wheelchair: "已收到，编号 #{id}。工作人员正在为您送来轮椅。",
    sent_complaint: "已收到投诉 #{id}，我们将在24小时内答复。",
    too_many: "提交过于频繁，请到服务台求助。", failed: "发送失败：", choose: "请选择一项",
  },
  en: {
    title: "Need help?", where: "You are at: ", lang: "中文", send: "Send",
    wheelchair: "I need a wheelchair", assist: "Escort / help finding the way", emergency: "Emergency (fainting, conflict)", complaint: "Complaint",
    topic: "About", phone: "Mobile number (optional, only to tell you it was closed)",
    phone_note: "Deleted once the notice is sent, kept 30 days at most.", detail: "What happened (optional)",
    topics: { wait_time: "Waiting time", attitude: "Staff attitude", environment: "Environment", billing: "Billing", facility: "Facilities", other: "Other" },
    sent: "Received, number #{id}. Someone is on the way.", sent_wheelchair: "Received, number #{id}. Someone is bringing you a wheelchair.",
    sent_complaint: "Complaint #{id} received; we answer within 24 hours.",
    too_many: "Too many requests from here; please ask at the service desk.", failed: "Not sent: ", choose: "Please choose one",
  },
};
const KINDS = ["wheelchair", "assist", "emergency", "complaint"];
const $ = (id) => document.getElementById(id);
let lang = document.documentElement.lang === "en" ? "en" : "zh";

function render() {
  const t = TEXT[lang];
  const body = document.body.dataset;
  document.documentElement.lang = lang;
  $("title").textContent = t.title;
  $("where").textContent = t.where + (lang === "zh" ? body.zoneNameZh : body.zoneName);
  $("lang").textContent = t.lang;
  $("send").textContent = t.send;
  $("topic-label").textContent = t.topic;
  $("phone-label").textContent = t.phone;
  $("phone-note").textContent = t.phone_note;
  $("detail-label").textContent = t.detail;
  const chosen = new FormData($("form")).get("kind");
  $("kinds").replaceChildren(...KINDS.map((k) => {
    const label = document.createElement("label");
    label.className = "kind";
    label.dataset.kind = k;
    const input = Object.assign(document.createElement("input"), { type: "radio", name: "kind", value: k, checked: k === chosen });
    input.dataset.testid = `kind-${k}`;
    input.addEventListener("change", () => { $("complaint").hidden = k !== "complaint"; });
    label.append(input, document.createTextNode(" " + t[k]));
    return label;
  }));
  const topic = $("topic").value;
  $("topic").replaceChildren(...Object.entries(t.topics).map(([v, name]) =>
    Object.assign(document.createElement("option"), { value: v, textContent: name, selected: v === topic })));
}

async function send(ev) {
  ev.preventDefault();
  const t = TEXT[lang];
  const kind = new FormData($("form")).get("kind");
  if (!kind) { $("result").textContent = t.choose; return; }
  const body = { kind, zone: document.body.dataset.zone, detail: $("detail").value.trim() };
  if (kind === "complaint") {
    body.topic = $("topic").value;
    if ($("phone").value.trim()) body.phone = $("phone").value.trim();
  }
  $("send").disabled = true;
  try {
    const res = await fetch("/api/public/requests", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), credentials: "omit",
    });
    const data = await res.json().catch(() => ({}));
    if (res.status === 201) {
      const said = { complaint: t.sent_complaint, wheelchair: t.sent_wheelchair }[kind] || t.sent;
      $("result").textContent = said.replace("{id}", data.id);
      $("result").dataset.state = "ok";
      $("form").reset();
      $("complaint").hidden = true;
    } else {
      $("result").textContent = res.status === 429 ? t.too_many : t.failed + (data.error || res.status);
      $("result").dataset.state = "bad";
    }
  } catch (err) {
    $("result").textContent = t.failed + err.message;
    $("result").dataset.state = "bad";
  } finally {
    $("send").disabled = false;
  }
}

$("lang").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; render(); });
$("form").addEventListener("submit", send);
render();
