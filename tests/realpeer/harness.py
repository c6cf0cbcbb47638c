"""Run one scenario between two real charon daemons and collect the raw results.

Why this shape: ``run_scenario`` owns the whole life of a run inside one ``Lab`` (namespaces,
veth, tcpdump, two charons, helper processes) so cleanup is guaranteed by a single ``with``;
it returns a ``RunResult`` holding only files and parsed snapshots, and ``truth.py`` turns that
into the committed ground truth. Every wait is a bounded poll.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import config
from .certs import make_pki
from .lab import Lab, LabError, run, wait_until
from .scenarios import Action, Scenario, Side, Step
from .vici_text import ike_sas

CHARON = "/usr/lib/ipsec/charon"
SWANCTL = "swanctl"
START_TIMEOUT = 10.0  # seconds for a daemon's vici socket / tcpdump to come up
SA_TIMEOUT = 15.0  # seconds for an initiate/rekey/terminate to settle
UDP_PORT = 7
TRAFFIC = str(Path(__file__).with_name("traffic.py"))
NAT_RELAY = str(Path(__file__).with_name("nat_relay.py"))
REDIRECTOR = str(Path(__file__).with_name("redirector.py"))


@dataclass
class Event:
    """One step as it happened, for truth.json."""

    action: str
    side: str
    time: float
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    """Files and observations of one run, before they become ground truth."""

    scenario: Scenario
    capture: Path
    logs: dict[str, Path]
    list_sas_text: dict[str, str]  # swanctl --list-sas (human form) before termination, by side
    list_sas: dict[str, list[dict[str, Any]]]  # the same, parsed from --pretty, by side
    snapshots: list[dict[str, Any]]
    events: list[Event]
    certificates: dict[str, Path]


class ScenarioFailed(LabError):
    """The daemons did not do what the scenario expects."""


@dataclass
class _Side:
    side: Side
    namespace: str
    directory: Path

    @property
    def uri(self) -> str:
        return config.vici_uri(self.directory)

    @property
    def log(self) -> Path:
        return self.directory / "charon.log"


class _Runner:
    """Drives the steps of one scenario on a built lab."""

    def __init__(self, lab: Lab, scenario: Scenario, work: Path) -> None:
        self.lab = lab
        self.scenario = scenario
        self.work = work
        self.sides = {
            Side.LEFT: _Side(Side.LEFT, lab.left, work / "left"),
            Side.RIGHT: _Side(Side.RIGHT, lab.right, work / "right"),
        }
        self.events: list[Event] = []
        self.snapshots: list[dict[str, Any]] = []
        self.final_text: dict[str, str] = {}
        self.final: dict[str, list[dict[str, Any]]] = {}
        self.certificates: dict[str, Path] = {}
        self.known_children: set[str] = set()  # CHILD_SA SPIs at the last settled point

    # -- set-up ---------------------------------------------------------------------------
    def configure(self) -> None:
        pki: dict[str, Path] = {}
        if self.scenario.auth in ("pubkey", "eap-md5"):
            pki = make_pki(self.work / "pki", {s.value: config.peers(s)[0].identity for s in Side})
            self.certificates = {"ca.pem": pki["ca"]} | {
                f"{s.value}.pem": pki[f"{s.value}.pem"] for s in Side
            }
        for side in self.sides.values():
            swanctl = side.directory / "swanctl"
            for sub in ("x509", "x509ca", "private"):
                (swanctl / sub).mkdir(parents=True, exist_ok=True)
            (side.directory / "run").mkdir(parents=True, exist_ok=True)
            (side.directory / "strongswan.conf").write_text(
                config.strongswan_conf(self.scenario, side.directory, side.side)
            )
            (swanctl / "swanctl.conf").write_text(config.swanctl_conf(self.scenario, side.side))
            if pki:
                shutil.copy(pki["ca"], swanctl / "x509ca" / "ca.pem")
                shutil.copy(
                    pki[f"{side.side.value}.pem"], swanctl / "x509" / f"{side.side.value}.pem"
                )
                shutil.copy(
                    pki[f"{side.side.value}.key"], swanctl / "private" / f"{side.side.value}.key"
                )

    def start_capture(self, capture: Path) -> None:
        log = self.work / "tcpdump.log"
        # behind a NAT the gateway's side is captured: what a gateway operator records
        namespace, device = (
            (self.lab.right, "veth-r") if self.scenario.nat else (self.lab.left, "veth-l")
        )
        self.lab.start(
            namespace,
            [
                "tcpdump",
                "-i",
                device,
                "-s",
                "0",
                "-U",
                "-n",
                "--immediate-mode",
                "-Z",
                "root",
                "-w",
                str(capture),
            ],
            log,
        )
        if not wait_until(lambda: "listening on" in log.read_text(errors="replace"), START_TIMEOUT):
            raise LabError(f"tcpdump did not start: {log.read_text(errors='replace')}")

    def start_daemons(self) -> None:
        for side in self.sides.values():
            mount = (
                f"mount --bind {side.directory / 'run'} /run && "
                f"exec env STRONGSWAN_CONF={side.directory / 'strongswan.conf'} {CHARON}"
            )
            self.lab.start(
                side.namespace,
                ["unshare", "-m", "--propagation", "private", "sh", "-c", mount],
                side.directory / "charon.stdout",
            )
        for side in self.sides.values():
            socket = side.directory / "charon.vici"
            if not wait_until(socket.exists, START_TIMEOUT):
                raise LabError(f"charon ({side.side.value}) did not open its vici socket")
            self.swanctl(
                side, "--load-all", "--file", str(side.directory / "swanctl" / "swanctl.conf")
            )

    # -- helpers --------------------------------------------------------------------------
    def swanctl(self, side: _Side, *args: str, check: bool = True) -> str:
        return self.lab.run_in(
            side.namespace, [SWANCTL, *args, "--uri", side.uri], timeout=SA_TIMEOUT + 5, check=check
        )

    def list_sas(self, side: _Side) -> list[dict[str, Any]]:
        return ike_sas(self.swanctl(side, "--list-sas", "--pretty", "--noblock"))

    def _children(self, side: _Side) -> list[dict[str, Any]]:
        children: list[dict[str, Any]] = []
        for ike in self.list_sas(side):
            for child in (ike.get("child-sas") or {}).values():
                if isinstance(child, dict):
                    children.append(child)
        return children

    def _settled(self, children: int | None = None) -> bool:
        """One established IKE SA and ``children`` (default: the scenario's) installed CHILD_SAs
        on each side, nothing in flux."""
        wanted = self.scenario.expect_children if children is None else children
        for side in self.sides.values():
            # a half-open IKE SA (HALF_OPEN, never completed) stays CONNECTING on the responder
            ikes = [sa for sa in self.list_sas(side) if sa.get("state") != "CONNECTING"]
            if len(ikes) != 1 or ikes[0].get("state") != "ESTABLISHED":
                return False
            installed = self._children(side)
            if len(installed) != wanted or any(c.get("state") != "INSTALLED" for c in installed):
                return False
        return True

    def _spis(self) -> tuple[set[str], set[str]]:
        left = self.sides[Side.LEFT]
        ike = {f"{s.get('initiator-spi')}_{s.get('responder-spi')}" for s in self.list_sas(left)}
        child = {str(c.get("spi-in")) for c in self._children(left)}
        return ike, child

    def _record(self, step: Step, ok: bool, **detail: Any) -> None:
        self.events.append(Event(step.action.value, step.side.value, time.time(), ok, detail))
        if not ok:
            raise ScenarioFailed(f"step {step.action.value} ({step.side.value}) failed: {detail}")

    # -- steps ----------------------------------------------------------------------------
    def step(self, step: Step) -> None:
        side = self.sides[step.side]
        match step.action:
            case Action.INITIATE:
                self.initiate(step, side)
            case Action.PING:
                out = self.lab.run_in(
                    self.lab.left,
                    [
                        sys.executable,
                        TRAFFIC,
                        "ping",
                        config.LEFT.inner,
                        config.RIGHT.inner,
                        str(step.count),
                        "2",
                    ],
                )
                received = int(out.strip() or 0)
                self._record(step, received == step.count, sent=step.count, received=received)
            case Action.UDP_ECHO:
                self.udp_echo(step)
            case Action.REKEY_CHILD | Action.REKEY_IKE:
                self.rekey(step, side)
            case Action.REAUTH:
                before, _ = self._spis()
                self.swanctl(side, "--rekey", "--ike", config.CONNECTION, "--reauth")
                self._record(step, self._await_new_ike(before))
            case Action.REDIRECT:
                before, _ = self._spis()
                right = self.sides[Side.RIGHT]
                out = self.swanctl(
                    right, "--redirect", "--ike", config.CONNECTION, "--gateway", config.RIGHT_ALT
                )
                self._record(
                    step, self._await_new_ike(before), output=out.strip().splitlines()[-1:]
                )
            case Action.MOVE:
                self.move()
            case Action.REBIND:
                (self.work / "rebind").touch()
                log = self.work / "nat.log"
                ok = wait_until(lambda: "rebind:" in log.read_text(errors="replace"), 5.0)
                self._record(step, ok, nat=log.read_text(errors="replace").splitlines()[-1:])
            case Action.WAIT:
                time.sleep(step.count)
                self._record(step, True, seconds=step.count)
            case Action.AWAIT_CHILD:
                before = set(self.known_children)

                def replaced() -> bool:
                    return self._settled() and self._spis()[1].isdisjoint(before)

                ok = wait_until(replaced, step.count, 0.3)
                self.known_children = self._spis()[1]
                self._record(step, ok, before=sorted(before), after=sorted(self.known_children))
            case Action.HALF_OPEN:
                out = self.lab.run_in(
                    self.lab.left,
                    [
                        sys.executable,
                        TRAFFIC,
                        "half-open",
                        config.LEFT.outer,
                        "5000",
                        config.RIGHT.outer,
                        "5",
                    ],
                )
                reply = int(out.strip() or 0)
                self._record(step, reply > 0, reply_bytes=reply)
            case Action.INITIATE_IKE:
                self.initiate_ike(step, side)
            case Action.LIST_SAS:
                snapshot = {s.side.value: self.list_sas(s) for s in self.sides.values()}
                self.snapshots.append({"time": time.time(), "sas": snapshot})
                self.known_children = self._spis()[1]
                self._record(step, True)
            case Action.TERMINATE:
                self.take_final()
                out = self.swanctl(
                    side,
                    "--terminate",
                    "--ike",
                    config.CONNECTION,
                    "--timeout",
                    str(int(SA_TIMEOUT)),
                    check=False,
                )
                gone = wait_until(
                    lambda: all(not self.list_sas(s) for s in self.sides.values()), SA_TIMEOUT, 0.2
                )
                self._record(step, gone, output=out.strip().splitlines()[-1:] if out else [])

    def initiate(self, step: Step, side: _Side) -> None:
        done = self.lab.run_in(
            side.namespace,
            [
                SWANCTL,
                "--initiate",
                "--child",
                config.CHILD,
                "--ike",
                config.CONNECTION,
                "--timeout",
                str(int(SA_TIMEOUT)),
                "--uri",
                side.uri,
            ],
            timeout=SA_TIMEOUT + 5,
            check=False,
        )
        if self.scenario.expect_established:
            ok = wait_until(self._settled, SA_TIMEOUT, 0.2)
            self.known_children = self._spis()[1]
            if ok and self.scenario.expect_notify:  # a CHILD_SA refused inside IKE_AUTH
                left_log = self.sides[Side.LEFT].log.read_text(errors="replace")
                ok = self.scenario.expect_notify in left_log
            self._record(step, ok, output=done.strip().splitlines()[-1:])
            return
        # a failing negotiation: let the responder finish, then confirm nothing is up
        time.sleep(1.0)
        self.take_final()
        left_log = self.sides[Side.LEFT].log.read_text(errors="replace")
        self._record(
            step,
            not any(self.final.values()) and self.scenario.expect_notify in left_log,
            expected_failure=self.scenario.expect_notify,
            output=done.strip().splitlines()[-1:],
        )

    def initiate_ike(self, step: Step, side: _Side) -> None:
        """An IKE SA without a CHILD_SA (RFC 6023 childless initiation)."""
        done = self.lab.run_in(
            side.namespace,
            [
                SWANCTL,
                "--initiate",
                "--ike",
                config.CONNECTION,
                "--timeout",
                str(int(SA_TIMEOUT)),
                "--uri",
                side.uri,
            ],
            timeout=SA_TIMEOUT + 5,
            check=False,
        )
        ok = wait_until(lambda: self._settled(children=0), SA_TIMEOUT, 0.2)
        self._record(step, ok, output=done.strip().splitlines()[-1:])

    def _await_new_ike(self, before: set[str]) -> bool:
        """Wait for a settled pair of SAs whose IKE SPIs are all new (reauth, redirect)."""

        def replaced() -> bool:
            return self._settled() and self._spis()[0].isdisjoint(before)

        ok = wait_until(replaced, SA_TIMEOUT * 2, 0.3)
        self.known_children = self._spis()[1]
        return ok

    def move(self) -> None:
        """Give the left a new outer address and take the old one away (MOBIKE roaming)."""
        step = Step(Action.MOVE)
        left = self.lab.left
        self.lab.run_in(left, ["sysctl", "-q", "-w", "net.ipv4.conf.veth-l.promote_secondaries=1"])
        self.lab.run_in(left, ["ip", "addr", "add", f"{config.LEFT_MOVED}/24", "dev", "veth-l"])
        time.sleep(0.5)
        self.lab.run_in(left, ["ip", "addr", "del", f"{config.LEFT.outer}/24", "dev", "veth-l"])

        def moved() -> bool:
            ikes = self.list_sas(self.sides[Side.LEFT])
            return len(ikes) == 1 and ikes[0].get("local-host") == config.LEFT_MOVED

        self._record(step, wait_until(moved, SA_TIMEOUT, 0.3), to=config.LEFT_MOVED)

    def rekey(self, step: Step, side: _Side) -> None:
        before_ike, before_child = self._spis()
        if step.action is Action.REKEY_CHILD:
            self.swanctl(side, "--rekey", "--child", config.CHILD)
        else:
            self.swanctl(side, "--rekey", "--ike", config.CONNECTION)

        def changed() -> bool:
            if not self._settled():
                return False
            ike, child = self._spis()
            if step.action is Action.REKEY_CHILD:
                return child.isdisjoint(before_child)
            return ike.isdisjoint(before_ike)

        ok = wait_until(changed, SA_TIMEOUT, 0.2)
        self.known_children = self._spis()[1]
        self._record(step, ok)

    def udp_echo(self, step: Step) -> None:
        server = self.lab.start(
            self.lab.right,
            [
                sys.executable,
                TRAFFIC,
                "udp-server",
                config.RIGHT.inner,
                str(UDP_PORT),
                str(step.count),
                "10",
            ],
            self.work / "udp-server.log",
        )
        try:
            time.sleep(0.3)
            out = self.lab.run_in(
                self.lab.left,
                [
                    sys.executable,
                    TRAFFIC,
                    "udp-client",
                    config.LEFT.inner,
                    config.RIGHT.inner,
                    str(UDP_PORT),
                    str(step.count),
                    "2",
                ],
            )
        finally:
            self.lab.stop(server)
        received = int(out.strip() or 0)
        self._record(step, received == step.count, sent=step.count, received=received)

    def take_final(self) -> None:
        """The ground-truth listing, taken just before termination (or after a failed initiate)."""
        for side in self.sides.values():
            self.final_text[side.side.value] = self.swanctl(side, "--list-sas", "--noblock")
            self.final[side.side.value] = self.list_sas(side)


def run_scenario(scenario: Scenario, out: Path, sniffer: Sequence[str] | None = None) -> RunResult:
    """Run ``scenario``; put the capture and both logs in ``out`` (created if needed).

    ``sniffer``: a live-capture command (``ipsec-inspect sniff -i veth-l …``) to run in the
    left namespace beside tcpdump for the whole scenario; it is started before the daemons,
    stopped with SIGTERM after the last step, and its output is kept as ``out/sniff.log``.
    """
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"realpeer-{scenario.name}-"))
    capture = out / "capture.pcap"
    try:
        with Lab() as lab:
            runner = _Runner(lab, scenario, work)
            runner.configure()
            lab.build(nat=scenario.nat)
            if scenario.nat:
                lab.start(
                    lab.middle,
                    [sys.executable, NAT_RELAY, config.NAT_PRIVATE, config.NAT_PUBLIC,
                     config.RIGHT.outer, str(work / "rebind"), "300"],
                    work / "nat.log",
                )  # fmt: skip
            if any(step.action is Action.REDIRECT for step in scenario.steps):
                lab.run_in(
                    lab.right, ["ip", "addr", "add", f"{config.RIGHT_ALT}/24", "dev", "veth-r"]
                )
            if scenario.redirector:
                _start_redirector(lab, work)
            runner.start_capture(capture)
            if scenario.redirector:  # the redirector's veth, merged into the capture after
                _tcpdump(lab, lab.left, "veth-lx", work / "redirector.pcap", work / "tcpdump-x.log")
            sniff = None
            if sniffer is not None:
                sniff_log = out / "sniff.log"
                sniff = lab.start(lab.left, list(sniffer), sniff_log)
                if not wait_until(
                    lambda: "capturing on" in sniff_log.read_text(errors="replace"), START_TIMEOUT
                ):
                    raise LabError(
                        f"sniffer did not start: {sniff_log.read_text(errors='replace')}"
                    )
            runner.start_daemons()
            for step in scenario.steps:
                runner.step(step)
            time.sleep(0.5)  # let the last Delete responses reach tcpdump
            if sniff is not None:
                lab.stop(sniff)  # SIGTERM: the sniffer writes its final document
            lab.close()
            logs = {}
            for side in runner.sides.values():  # fresh copies: the run succeeded
                target = out / f"{side.side.value}.log"
                shutil.copy(side.log, target)
                logs[side.side.value] = target
            if scenario.nat:  # the mappings the NAT made, for PROVENANCE
                shutil.copy(work / "nat.log", out / "nat.log")
            if scenario.redirector:  # what our redirector answered, for PROVENANCE
                shutil.copy(work / "redirector.log", out / "redirector.log")
                merged = work / "merged.pcap"
                run(["mergecap", "-F", "pcap", "-w", str(merged), str(capture),
                     str(work / "redirector.pcap")])  # fmt: skip
                shutil.copy(merged, capture)
            certificates = {}
            for name, path in runner.certificates.items():
                certificates[name] = out / name
                shutil.copy(path, certificates[name])
            return RunResult(
                scenario=scenario,
                capture=capture,
                logs=logs,
                list_sas_text=runner.final_text,
                list_sas=runner.final,
                snapshots=runner.snapshots,
                events=runner.events,
                certificates=certificates,
            )
    finally:
        # keep what the daemons said even when the run failed: it is what explains the failure
        for name in ("left", "right"):
            log = work / name / "charon.log"
            if log.exists() and not (out / f"{name}.log").exists():
                shutil.copy(log, out / f"{name}.log")
        shutil.rmtree(work, ignore_errors=True)


def _tcpdump(lab: Lab, namespace: str, device: str, capture: Path, log: Path) -> None:
    lab.start(
        namespace,
        ["tcpdump", "-i", device, "-s", "0", "-U", "-n", "--immediate-mode", "-Z", "root",
         "-w", str(capture)],
        log,
    )  # fmt: skip
    if not wait_until(lambda: "listening on" in log.read_text(errors="replace"), START_TIMEOUT):
        raise LabError(f"tcpdump did not start: {log.read_text(errors='replace')}")


def _start_redirector(lab: Lab, work: Path) -> None:
    """Our IKE_SA_INIT redirector on config.REDIRECTOR in a namespace of its own (the right's
    charon holds 0.0.0.0:500), joined to the left by a second veth; the right gets the
    address it redirects to."""
    ns = f"{lab.tag}x"
    run(["ip", "netns", "add", ns])
    lab.namespaces.append(ns)
    run(["ip", "link", "add", "veth-lx", "netns", lab.left, "type", "veth", "peer", "name",
         "veth-x", "netns", ns])  # fmt: skip
    lab.run_in(ns, ["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"])
    lab.run_in(ns, ["sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1"])
    lab.run_in(lab.left, ["sysctl", "-q", "-w", "net.ipv6.conf.veth-lx.disable_ipv6=1"])
    lab.run_in(ns, ["ip", "addr", "add", f"{config.REDIRECTOR}/24", "dev", "veth-x"])
    lab.run_in(ns, ["ip", "link", "set", "veth-x", "up"])
    lab.run_in(lab.left, ["ip", "link", "set", "veth-lx", "up"])
    lab.run_in(lab.left, ["ip", "route", "add", f"{config.REDIRECTOR}/32", "dev", "veth-lx",
                          "src", config.LEFT.outer])  # fmt: skip
    lab.run_in(lab.right, ["ip", "addr", "add", f"{config.RIGHT_ALT}/24", "dev", "veth-r"])
    log = work / "redirector.log"
    lab.start(ns, [sys.executable, REDIRECTOR, config.REDIRECTOR, config.RIGHT_ALT, "120"], log)
    if not wait_until(lambda: "listening" in log.read_text(errors="replace"), 5.0):
        raise LabError(f"redirector did not start: {log.read_text(errors='replace')}")


def tools_missing() -> list[str]:
    """Programs the harness needs that are not installed (empty when it can run)."""
    missing = [CHARON] if not Path(CHARON).exists() else []
    missing += [
        tool
        for tool in (SWANCTL, "tcpdump", "ip", "unshare", "openssl")
        if shutil.which(tool) is None
    ]
    return missing


def strongswan_version(log: Path) -> str:
    """The strongSwan version the daemon announced at start-up, recorded in truth.json."""
    for line in log.read_text(errors="replace").splitlines()[:20]:
        if "Starting IKE charon daemon" in line:
            return line.partition("(")[2].partition(",")[0]
    return ""
