"""A hub database you can trust and restore (issue #13 items 4 and 6): one open alarm per key enforced by
SQLite (and an old database with duplicates repaired), a corrupt file refused with one line and exit code 3,
commits fsynced (synchronous=FULL), and an online backup taken while the hub writes that restores."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from floorops.config import Config
from floorops.topics import EdgeRecord
from hub.db import Database, _statements, migrations
from tests.hub.conftest import HubProcess, http, make_cfg, wait_for, write_config
from tests.hub.test_thin_path import edge_publisher, login, publish


def hub_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("FLOOROPS_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "hub", *args, "--config", str(config)], capture_output=True,
                          text=True, timeout=60, env=env)


def old_database(path: Path, below: int) -> sqlite3.Connection:
    """A database as a hub before migration ``below`` left it."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT, applied_at REAL)")
    for version, name, sql in migrations():
        if version < below:
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (?, ?, 0)", (version, name))
    return conn


def insert_alarm(conn: sqlite3.Connection | Database, source: str, type_: str, state: str, at: float) -> int:
    cur = conn.execute("INSERT INTO alarms(type, severity, source, state, raised_at, updated_at) "
                       "VALUES (?, 'major', ?, ?, ?, ?)", (type_, source, state, at, at))
    return int(cur.lastrowid)


def test_one_open_alarm_per_key_and_old_duplicates_closed(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite"
    conn = old_database(path, below=5)
    oldest = insert_alarm(conn, "kiosk-01", "card_jam", "active", 100.0)
    extra = insert_alarm(conn, "kiosk-01", "card_jam", "acknowledged", 200.0)
    other = insert_alarm(conn, "kiosk-01", "paper_out", "active", 150.0)
    done = insert_alarm(conn, "kiosk-01", "card_jam", "cleared", 50.0)
    conn.close()

    db = Database(path)
    states = {r["id"]: (r["state"], r["cleared_by"]) for r in db.all("SELECT id, state, cleared_by FROM alarms")}
    assert states[oldest] == ("active", None)  # the oldest open one stays
    assert states[extra] == ("cleared", "duplicate")
    assert states[other] == ("active", None) and states[done][0] == "cleared"
    assert [r["action"] for r in db.all("SELECT action FROM alarm_history WHERE alarm_id=?", (extra,))] == ["cleared"]
    with pytest.raises(sqlite3.IntegrityError):
        insert_alarm(db, "kiosk-01", "card_jam", "active", 300.0)
    insert_alarm(db, "kiosk-01", "card_jam", "cleared", 300.0)  # closed ones: any number
    db.close()


def test_commits_are_fsynced(tmp_path: Path) -> None:
    db = Database(tmp_path / "hub.sqlite")
    assert db.one("PRAGMA synchronous")[0] == 2  # FULL
    db.close()


def corrupt(path: Path) -> None:
    """Garbage over pages in the middle of a database with a few hundred kB of rows."""
    db = Database(path)
    with db.transaction():
        for i in range(3000):
            db.execute("INSERT INTO audit(at, actor, action, target, detail) VALUES (?,?,?,?,?)",
                       (i, "x" * 50, "a", "t", "{}"))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(size // 2)
        f.write(b"\xa5\x5a" * 4096)


def test_a_corrupt_database_is_one_line_and_exit_code_3(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path)
    config = write_config(cfg)
    corrupt(Path(cfg.path(cfg.hub.db_path)))
    for args in ((), ("migrate",), ("users", "list")):  # running the hub, and the CLI's commands
        out = hub_cli(config, *args)
        assert out.returncode == 3, (args, out.stderr[-2000:])
        assert "Traceback" not in out.stderr
        error_lines = [line for line in out.stderr.splitlines() if "corrupt" in line]
        assert len(error_lines) == 1 and "restore a backup" in error_lines[0]


@pytest.mark.integration
def test_backup_while_the_hub_writes_then_restore(hub_process: HubProcess, live_cfg: Config) -> None:
    cfg = live_cfg
    from hub import provisioning
    provisioning.ensure_user(cfg, "mon", "monitor", "monitor-pass-1")
    hub_process.start()
    url = hub_process.url
    db_path = Path(cfg.path(cfg.hub.db_path))
    dest = Path(cfg.var_dir) / "backups" / "hub-backup.sqlite"
    dest.parent.mkdir()
    pub = edge_publisher(cfg)
    now_ms = int(time.time() * 1000)
    stop = threading.Event()

    def jams() -> None:  # a card_jam per kiosk: an alarm and a ticket each, written while the backup runs
        for i in range(1, 200):
            if stop.is_set():
                return
            publish(pub, cfg, EdgeRecord(f"kiosk-{i % 16 + 1:02d}", "kiosk", "event", now_ms + i, i,
                                         {"event": "card_jam" if i % 2 else "fault_cleared", "fault": "card_jam"},
                                         zone="reg_hall", site=cfg.site.id))
            time.sleep(0.02)

    writer = threading.Thread(target=jams)
    writer.start()
    try:
        token = login(url, "mon", "monitor-pass-1")
        wait_for(lambda: len(http(url + "/api/alarms", token=token)[1]) >= 3, 20, "alarms being written")
        out = hub_cli(hub_process.config_path, "backup", str(dest))
        assert out.returncode == 0, out.stderr
        assert '"quick_check": "ok"' in out.stdout
    finally:
        stop.set()
        writer.join()
        pub.loop_stop()
        pub.disconnect()
    with sqlite3.connect(dest) as b:
        alarms = sorted(r[0] for r in b.execute("SELECT id FROM alarms"))
        tickets = sorted(r[0] for r in b.execute("SELECT id FROM tickets"))
    assert alarms and tickets

    # The restore of docs/operations.md: stop the hub, put the copy in place (no -wal/-shm left), start.
    hub_process.stop()
    for suffix in ("-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    shutil.copyfile(dest, db_path)
    hub_process.start()
    token = login(url, "mon", "monitor-pass-1")
    status, got = http(url + "/api/alarms", token=token)
    assert status == 200 and sorted(a["id"] for a in got) == alarms
    status, got = http(url + "/api/tickets", token=token)
    assert status == 200 and sorted(t["id"] for t in got) == tickets
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA quick_check").fetchall() == [("ok",)]
