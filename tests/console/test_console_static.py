"""The console's files on their own: every asset local and present, both languages complete, the chime sound."""

from __future__ import annotations

import json
import re
import wave
from pathlib import Path

import pytest

from console import INDEX_HTML, STATIC_DIR
from console.chime import RATE_HZ, SOUNDS, chime_samples

JS_FILES = sorted(STATIC_DIR.rglob("*.js"))
TEXT_FILES = [p for p in STATIC_DIR.rglob("*") if p.suffix in {".js", ".css", ".html", ".json", ".svg"}]


def catalog(lang: str) -> dict[str, str]:
    return json.loads((STATIC_DIR / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))


def test_index_references_only_files_that_exist() -> None:
    html = INDEX_HTML.read_text()
    refs = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert refs, "index.html references no assets"
    for ref in refs:
        assert (STATIC_DIR / ref).is_file(), f"index.html references missing {ref}"


def test_every_relative_import_resolves() -> None:
    for js in JS_FILES:
        for ref in re.findall(r'^\s*import\s[^;]*?from\s+"([^"]+)"', js.read_text(), flags=re.M):
            assert ref.startswith("."), f"{js.name}: bare import {ref!r} needs a build step or a CDN"
            assert (js.parent / ref).resolve().is_file(), f"{js.name}: import {ref} does not exist"
        for ref in re.findall(r'new URL\("([^"]+)", import\.meta\.url\)', js.read_text()):
            assert (js.parent / ref).resolve().is_file(), f"{js.name}: asset {ref} does not exist"


def test_no_asset_comes_from_the_internet() -> None:
    """Hospital networks often have no internet: no CDN, no web font, no remote script."""
    allowed = {"http://www.w3.org/2000/svg"}
    for path in TEXT_FILES:
        for url in re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[a-z]{2,}[^\s\"'`)]*", path.read_text(encoding="utf-8")):
            assert url in allowed, f"{path.relative_to(STATIC_DIR)} refers to {url}"


def test_both_languages_have_the_same_keys_and_chinese_is_translated() -> None:
    en, zh = catalog("en"), catalog("zh")
    assert set(en) == set(zh), f"only in en: {set(en) - set(zh)}; only in zh: {set(zh) - set(en)}"
    untranslated = [k for k in en if en[k] == zh[k] and re.search(r"[A-Za-z]{3,}", en[k]) and "%" not in en[k]]
    assert not untranslated, f"zh repeats the English text for {untranslated}"
    cjk = [k for k in zh if re.search(r"[\u4e00-\u9fff]", zh[k])]
    assert len(cjk) > 0.9 * len(zh)
    for key in en:  # placeholders must survive translation
        assert set(re.findall(r"\{\w+\}", en[key])) == set(re.findall(r"\{\w+\}", zh[key])), key


def test_every_text_key_used_by_the_code_exists() -> None:
    en = catalog("en")
    used: set[str] = set()
    for js in JS_FILES:
        used |= set(re.findall(r'\bt\("([a-z_]+(?:\.[a-z_]+)+|logout)"', js.read_text()))
    assert len(used) > 80
    missing = sorted(k for k in used if k not in en)
    assert not missing, f"keys used in JS but missing from the catalogs: {missing}"


def test_terms_cover_roles_levels_states_and_kiosk_faults() -> None:
    en = catalog("en")
    roles_js = (STATIC_DIR / "js" / "roles.js").read_text()
    roles = re.findall(r"^\s+(\w+): \[", roles_js.split("ROLE_VIEWS")[1].split("};")[0], flags=re.M)
    assert set(roles) == {"monitor", "floor_manager", "maintenance", "admin", "service_desk", "liaison"}
    codes_js = (STATIC_DIR / "js" / "views" / "tickets.js").read_text()
    codes = re.findall(r'"(\w+)"', codes_js.split("RESOLUTION_CODES = [")[1].split("]")[0])
    expected = (
        [f"role.{r}" for r in roles] + [f"level.{v}" for v in ("normal", "busy", "crowded")]
        + [f"severity.{v}" for v in ("critical", "major", "minor", "warning")]
        + [f"alarm_state.{v}" for v in ("active", "acknowledged", "cleared")]
        + [f"ticket_state.{v}" for v in ("open", "accepted", "resolved")]
        + [f"dispatch_state.{v}" for v in ("offered", "accepted", "arrived", "declined", "completed", "expired")]
        + [f"device_state.{v}" for v in ("online", "offline", "fault")]
        + [f"resolution.{c}" for c in codes]
    )
    assert not [k for k in expected if k not in en]


def test_console_knows_the_hubs_resolution_codes_and_alarm_types() -> None:
    """The console offers exactly the codes the hub accepts, and names every alarm type of the hub's rules."""
    tickets = pytest.importorskip("hub.tickets")
    codes_js = (STATIC_DIR / "js" / "views" / "tickets.js").read_text()
    codes = re.findall(r'"(\w+)"', codes_js.split("RESOLUTION_CODES = [")[1].split("]")[0])
    assert codes == list(tickets.RESOLUTION_CODES)
    rules_config = pytest.importorskip("hub.rules.config")
    alarm_types = set(rules_config.schema()["rules"])  # every declared rule (hub/rules.toml holds only overrides)
    assert "card_jam" in alarm_types
    en, zh = catalog("en"), catalog("zh")
    assert not [a for a in alarm_types if f"alarm.{a}" not in en or f"alarm.{a}" not in zh]
    assert not [a for a in alarm_types if f"fault.{a}" not in en]


@pytest.mark.parametrize("sound", ["offer", "emergency"])
def test_chime_is_a_short_audible_wav_that_regenerates_identically(tmp_path: Path, sound: str) -> None:
    shipped = STATIC_DIR / "sounds" / f"{sound}.wav"
    with wave.open(str(shipped)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE_HZ)
        seconds = w.getnframes() / w.getframerate()
    assert 0.3 < seconds < 1.5
    samples = chime_samples(notes=SOUNDS[sound])
    assert max(abs(s) for s in samples) > 8000, "chime is too quiet to hear on a busy floor"
    from console.chime import write_chime
    assert write_chime(tmp_path / f"{sound}.wav", sound).read_bytes() == shipped.read_bytes()
    if sound == "emergency":  # not the routine chime: an emergency must sound different
        assert shipped.read_bytes() != (STATIC_DIR / "sounds" / "offer.wav").read_bytes()
