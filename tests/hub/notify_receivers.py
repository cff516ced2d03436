"""Real local receivers for the hub's pages: an aiosmtpd SMTP server, and an aiohttp server with the WeCom
group robot, the DingTalk custom robot (with its signature) and a JSON SMS gateway. The receiving logic is
the simulated hospital's (firmware_sim/inbox.py): the checks of each documented format and the answers the
real services give; here it only runs on free ports of its own."""

from __future__ import annotations

from email.message import Message as EmailMessage

from aiohttp import web
from aiosmtpd.controller import Controller

from centre.services import free_port
from firmware_sim.inbox import Inbox, dingtalk_errors, wecom_errors

__all__ = ["MailBox", "RobotServer", "dingtalk_errors", "smtp_server", "wecom_errors"]


class MailBox(Inbox):
    """aiosmtpd handler (the simulator's mail server's) with the accepted messages as parsed e-mails."""

    @property
    def messages(self) -> list[tuple[list[str], EmailMessage]]:
        return list(self.accepted["smtp"])


def smtp_server() -> tuple[Controller, MailBox]:
    box = MailBox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller, box


class RobotServer(Inbox):
    """WeCom (``/cgi-bin/webhook/send``), DingTalk (``/robot/send``) and SMS (``/sms``) receivers on one
    loopback port. ``answers`` queues errcodes (or HTTP statuses for SMS) to answer before the normal ones."""

    def __init__(self, dingtalk_secret: str = "") -> None:
        super().__init__(dingtalk_secret=dingtalk_secret)
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        app = web.Application()
        self.add_routes(app)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
