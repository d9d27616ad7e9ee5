"""`python -m demo [--duration S] [--headless] [--keep]`, from the repository root, as root.

Ctrl-C or SIGTERM at any point stops every child and checks that none is left.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

from demo import pipe, report
from demo.peers import EmulatedWorld
from demo.pipe import DemoError
from demo.schools import (
    BROKER_PASSWORD_ENV,
    GOOD_LINE_MBPS,
    SCHOOLS,
    SLOW_LINE_MBPS,
    TARGET_MBPS,
    agent_config,
    midday_zone,
    speed_test_slot,
)
from schoolnet_stack.servers import ServerError

SPEED_TEST_LEAD_S = 10
"""Agents are up within a few seconds of starting; the scheduled test waits at least this."""
NEEDED_BINARIES = ("/usr/sbin/mosquitto", "/usr/bin/victoria-metrics", "/usr/bin/vmalert",
                   "/usr/bin/prometheus-alertmanager")
SETUP_HINT = "请以 root 运行 ./scripts/setup（Debian 12）/ run ./scripts/setup as root on Debian 12"
EXIT_INTERRUPTED = 130


AGENT_SETTLE_S = 2.0
"""An agent whose config it refuses exits at once: checked this long after starting."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM: unwinds whatever is running so every child is stopped."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    problem = _missing_prerequisite()
    if problem:
        print(f"schoolnet demo: {problem}\n  {SETUP_HINT}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="schoolnet-demo-"))
    code = EXIT_INTERRUPTED
    _on_signals(_interrupt)
    try:
        code = _run(args, workdir)
    except (DemoError, ServerError) as error:
        print(f"schoolnet demo: {error}", file=sys.stderr, flush=True)
        code = 1
    except Interrupted:
        pass
    finally:
        _on_signals(signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        _check_nothing_left(workdir)
        if not args.keep and code != 1:  # after a failure the logs there say why
            shutil.rmtree(workdir, ignore_errors=True)
    if code == EXIT_INTERRUPTED:
        say("\n已中断，已停止全部进程 / interrupted; every process stopped")
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/demo", description="schoolnet 演示 / demo on loopback")
    parser.add_argument("--duration", type=float, default=150.0, metavar="SECONDS",
                        help="采集多久后打印结果 / how long the schools report before the tables (default 150)")
    parser.add_argument("--headless", action="store_true",
                        help="打印后立即退出 / exit after printing instead of waiting for Ctrl-C")
    parser.add_argument("--keep", action="store_true", help="保留工作目录（日志）/ keep the work dir (logs)")
    return parser


def _missing_prerequisite() -> str | None:
    if os.geteuid() != 0:
        return "需要 root（DNS 检测点监听 53 端口）/ needs root (the emulated county DNS listens on port 53)"
    missing = [path for path in NEEDED_BINARIES if not os.access(path, os.X_OK)]
    return f"缺少 / missing: {' '.join(missing)}" if missing else None


def _interrupt(signum: int, _frame) -> None:
    raise Interrupted(signal.Signals(signum).name)


def _on_signals(handler) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler)


def _run(args: argparse.Namespace, workdir: Path) -> int:
    say(f"schoolnet 演示 / demo — 工作目录 / work dir: {workdir}")
    with ExitStack() as stack:
        try:
            return _demonstrate(args, workdir, stack)
        finally:
            _on_signals(signal.SIG_IGN)  # before the stack stops everything: let it finish


def _demonstrate(args: argparse.Namespace, workdir: Path, stack: ExitStack) -> int:
    world = EmulatedWorld(SCHOOLS)
    stack.callback(world.close)
    world.start()
    central = pipe.CentralPipe(workdir, stack)
    children = pipe.Children()
    stack.callback(children.stop_all)
    central.start(children)
    _explain(central)
    clock = _start_agents(children, world, central, workdir)
    _watch(central, children, args.duration)
    _print_results(central)
    _write_bureau_reports(central, clock, workdir)
    if not args.headless:
        say("\n按 Ctrl-C 停止 / press Ctrl-C to stop everything")
        try:
            while True:
                signal.pause()
        except Interrupted:
            say("\n正在停止 / stopping ...")
    return 0


def _explain(central: pipe.CentralPipe) -> None:
    say(f"MQTT 消息服务器 broker      {central.broker.url}")
    say(f"VictoriaMetrics            {central.store.url}")
    say(f"vmalert                    {central.vmalert.url}")
    say(f"Alertmanager               {central.alertmanager.url}")
    say(f"告警 webhook receiver       {central.webhook.url}")
    say(f"注意：演示中规则的 for: 与 Alertmanager 等待时间按 1 分钟 = {pipe.SECONDS_PER_MINUTE:g} 秒缩短"
        f"（10m -> 20s），表达式与路由同 deploy/ 原文。\n"
        f"Note: every rule `for:` and Alertmanager wait is shortened, 1 minute = "
        f"{pipe.SECONDS_PER_MINUTE:g} s (10m -> 20 s); expressions and routing are deploy/'s own.")
    say(f"出口带宽：回环网络什么都快，所以测速服务器按学校路径限速（正常线路 {GOOD_LINE_MBPS:g} Mbps，"
        f"慢线路 {SLOW_LINE_MBPS:g} Mbps < 目标 {TARGET_MBPS:g} Mbps）。\n"
        f"Egress: on loopback everything is fast, so the speed server paces each school's path "
        f"(healthy lines {GOOD_LINE_MBPS:g} Mbps, the slow one {SLOW_LINE_MBPS:g} Mbps, "
        f"below the {TARGET_MBPS:g} Mbps target).")


def _start_agents(children: pipe.Children, world: EmulatedWorld, central: pipe.CentralPipe, workdir: Path):
    clock = midday_zone(datetime.now(timezone.utc))
    speed_at = speed_test_slot(clock.local_now, SPEED_TEST_LEAD_S)
    say(f"作息表时区 {clock.zone}（此刻当地 {clock.local_now:%H:%M}，在校时间、同步课进行中）；定时测速 {speed_at}。\n"
        f"Timetable zone {clock.zone} (local time now {clock.local_now:%H:%M}: school hours, a sync "
        f"session on); scheduled speed test at {speed_at} local.")
    env = {BROKER_PASSWORD_ENV: secrets.token_hex(16)}
    say("\n模拟学校 / simulated schools:")
    for school in SCHOOLS:
        config = agent_config(school, world.places[school.id], clock, speed_at, central.broker.port,
                              str(workdir / f"{school.id}.spool.sqlite"))
        pipe.start_agent(children, config, workdir / f"{school.id}.yaml", workdir / f"{school.id}.log", env)
        kind = "乡村 rural" if school.rural else "城区 urban"
        say(f"  {school.county} {school.id:<16} {school.name} {kind:<8} {school.fault}")
    time.sleep(AGENT_SETTLE_S)
    if children.exited():
        raise DemoError(f"代理启动失败 / agents did not start: {', '.join(children.exited())}; "
                        f"see their logs in {workdir}")
    return clock


REPORTS_DIR = Path("schoolnet-demo-reports")


def _write_bureau_reports(central: pipe.CentralPipe, clock, workdir: Path) -> None:
    """The document a bureau files, for the demo's day (schoolnet-report, README "Reports").
    Written beside the user, not in the work dir, which is removed when the demo stops."""
    from demo.bureau_report import write_reports

    say("\n== 教育局报告 bureau report (schoolnet-report, 演示当天 the demo's day) ==")
    try:
        for path in write_reports(central.store.url, clock.zone, clock.local_now, REPORTS_DIR.resolve()):
            say(f"  {path}")
    except (RuntimeError, OSError) as error:
        say(f"  报告未生成 / report not written: {error}")


def _watch(central: pipe.CentralPipe, children: pipe.Children, duration: float) -> None:
    """Waits `duration` seconds, printing alerts as Alertmanager sends them."""
    say(f"\n运行 {duration:g} 秒 / running for {duration:g} s ...")
    deadline = time.monotonic() + duration
    shown: set = set()
    while time.monotonic() < deadline:
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
        for alert in report.firing_alerts(list(central.webhook.received)):
            if alert not in shown:
                shown.add(alert)
                say(f"  告警 alert -> {alert.receiver}: {alert.name} {alert.school or alert.county}")
        for gone in children.exited():
            if gone not in shown:
                shown.add(gone)
                say(f"  警告 warning: {gone} 已退出 / exited; see its log in the work dir")


def _print_results(central: pipe.CentralPipe) -> None:
    counties = sorted({school.county for school in SCHOOLS})
    say("\n== 县级达标情况 county compliance (from VictoriaMetrics, schoolnet: recording rules) ==")
    for line in report.county_lines(report.read_figures(central.store.query, report.COUNTY_QUERIES, "county"), counties):
        say(line)
    say("\n== 各校 per school (PASS 达标 / FAIL 未达标) ==")
    for line in report.school_lines(report.read_figures(central.store.query, report.SCHOOL_QUERIES, "school"), SCHOOLS):
        say(line)
    say("\n== 已发出的告警 alerts sent, by county receiver ==")
    for line in report.alert_lines(report.firing_alerts(list(central.webhook.received))):
        say(line)
    say("\nGrafana: 看板与数据源配置在 dashboards/provisioning（看板 JSON 在 dashboards/json）。"
        f"把 datasources/victoriametrics.yml 的 url 改为 {central.store.url}（uid 保持 schoolnet-vm）。\n"
        f"Grafana: provisioning lives in dashboards/provisioning (boards in dashboards/json); set the "
        f"data source url to {central.store.url} and keep uid schoolnet-vm.")


def _check_nothing_left(workdir: Path) -> None:
    left = pipe.leftovers(workdir)
    for process in left:
        process.kill()
    if left:
        say(f"警告 warning: 清理了残留进程 / killed leftover processes {[p.pid for p in left]}")


def say(text: str) -> None:
    print(text, flush=True)


if __name__ == "__main__":
    sys.exit(main())
