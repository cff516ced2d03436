// Tiny DOM helpers: elements are built with textContent, never innerHTML, so device and user text is inert.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "class") el.setAttribute("class", value);
    // Through the CSSOM, not a style attribute: the hub's CSP (no 'unsafe-inline') blocks style attributes.
    else if (key === "style") el.style.cssText = String(value);
    else if (key in el && !(el instanceof SVGElement) && key !== "list") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** h("div", {class: "x", onclick: fn}, child, ...) builds an HTML element. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** s("rect", {x: 1}) builds an SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Replace an element's children. */
export function fill(el, ...children) {
  clear(el);
  return build(el, {}, children);
}

export function toast(text, tone = "info", ms = 5000) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const el = h("div", { class: "toast", dataset: { tone } }, text);
  box.append(el);
  setTimeout(() => el.remove(), ms);
}
