"""What schoolnet-fleet prints: zh-CN first, English beside, one line per thing a county
engineer acts on. Nothing here ever prints a password: only paths to the files that hold them."""

from __future__ import annotations

import sys

from fleet.broker import DYNSEC_FILE
from fleet.plan import Change, Desired, Plan
from fleet.state import State
from fleet.sync import Synced, pending
from roster.problems import RosterProblem

WORDS = {
    "county_added": ("+", "新增县 county added"),
    "county_changed": ("~", "县联系人变更 county contacts changed"),
    "county_retired": ("-", "移除县 county removed"),
    "county_no_contacts": ("!", "县无告警联系人，告警发往 central-it / county has no contacts: alerts go to central-it"),
    "school_added": ("+", "新增学校 school added"),
    "school_changed": ("~", "学校信息变更 school changed"),
    "school_retired": ("-", "撤销学校 school retired"),
    "devices_changed": ("~", "班级设备变更 devices changed"),
    "config_restored": ("~", "恢复被改动的配置 config file restored (missing or edited by hand)"),
    "password_new": ("+", "新密码 new password"),
    "alerts": ("~", "告警路由变更 Alertmanager routes changed"),
    "series": ("~", "名单指标变更 roster series changed"),
}
ORDER = list(WORDS)


def say(text: str) -> None:
    print(text, flush=True)


def problems(found: list[RosterProblem]) -> None:
    errors = [p for p in found if not p.note]
    notes = [p for p in found if p.note]
    for problem in notes:
        print(f"提示 note: {problem}", file=sys.stderr)
    for problem in errors:
        print(problem, file=sys.stderr)
    if errors:
        print(f"名单有 {len(errors)} 处错误，未做任何更改 / {len(errors)} mistake(s) in the roster; nothing was changed",
              file=sys.stderr)


def refusals(lines: list[str]) -> None:
    for line in lines:
        print(line, file=sys.stderr)
    print("代理不接受生成的配置，未做任何更改 / the agent would refuse these generated configs; nothing was changed",
          file=sys.stderr)


def plan(planned: Plan, desired: Desired, seconds: float | None) -> None:
    roster = desired.roster
    say(f"名单 roster: {desired.roster_name} — {len(roster.counties)} 县 counties, {len(roster.schools)} 所学校 schools")
    for change in sorted(planned.changes, key=lambda c: (ORDER.index(c.what), c.subject)):
        _change(change)
    if planned.settings_changed:
        say(f"~ 设置变更 settings changed: agent.yaml of {len(planned.settings_changed)} 所学校 schools")
    say(_summary(planned) + (f" ({seconds:.1f} s)" if seconds is not None else ""))


def _change(change: Change) -> None:
    sign, words = WORDS[change.what]
    say(f"{sign} {words}: {change.subject} {change.name}".rstrip())
    for detail in change.details:
        say(f"    {detail}")


def _summary(planned: Plan) -> str:
    if planned.empty:
        return "无变更 nothing to change"
    counts = {what: len(planned.of(what)) for what in ("school_added", "school_changed", "school_retired",
                                                      "devices_changed", "county_added", "county_retired")}
    return ("合计 summary: " + f"{counts['school_added']} added 新增, {counts['school_changed']} changed 变更, "
            f"{counts['school_retired']} retired 撤销, {counts['devices_changed']} with device changes 设备变更, "
            f"{counts['county_added']} counties added 新增县, {counts['county_retired']} counties removed 移除县")


def applied(done, state: State, synced: Synced | None) -> None:
    for path in done.written:
        say(f"已写入 written: {path}")
    if synced is not None:
        broker_synced(synced)
    waiting = pending(state)
    if waiting:
        _pending_instruction(state, waiting)
    elif synced is None and f"broker/{DYNSEC_FILE}" in done.written:
        say(f"消息服务器账号文件已生成：首次启动 mosquitto 前安装 / broker accounts written: before mosquitto's first "
            f"start, install -m 640 -g mosquitto {state.root}/broker/{DYNSEC_FILE} /etc/mosquitto/schoolnet/ "
            "(运行中的消息服务器自己保存账号，以后的变更用 --broker 发送 / a running broker keeps its own: "
            "later changes go to it with --broker)")
    if any(p.startswith("alertmanager/") for p in done.written):
        say("告警路由已变更：填写密钥后重新加载 / alert routes changed: fill in the secrets, then reload Alertmanager")
    say(f"完成 done: {len(done.written)} 个文件 files written in {state.root}" if done.written else
        "完成 done: 无变更 nothing changed")


def broker_synced(synced: Synced) -> None:
    for line in synced.done:
        say(line)
    for line in synced.failed:
        print(f"! 消息服务器拒绝 broker refused: {line}", file=sys.stderr)


def _pending_instruction(state: State, waiting: dict[str, dict]) -> None:
    """What to run, since the running broker does not have these changes yet. The command
    reads every password from the state folder: none is ever typed or put in argv."""
    retire = sorted(user for user, item in waiting.items() if item["action"] == "retire")
    put = sorted(user for user, item in waiting.items() if item["action"] == "put")
    say(f"! 运行中的消息服务器尚未收到 {len(waiting)} 项账号变更（新账号或新密码 {len(put)}，停用 {len(retire)}）；"
        f"换密码和停用的学校的会话（含离线保留的会话）尚未结束，停用学校的保留状态尚未清除 / the running broker "
        f"does not have {len(waiting)} account change(s) yet ({len(put)} new account or password, {len(retire)} "
        "retired): rotated and retired schools' sessions, parked ones included, are not ended and retired "
        "schools' retained status is not cleared.")
    for user in retire:
        say(f"    - 停用 retire: {user}")
    for user in put[:20]:
        say(f"    + 新账号或新密码 new account or password: {user}")
    if len(put) > 20:
        say(f"    + … {len(put) - 20} more")
    say(f"  请在消息服务器主机上运行 / run on the broker's host (as schoolnet-admin, passwords read from "
        f"{state.root}): schoolnet-fleet broker --state {state.root} --broker mqtt://127.0.0.1:1883")
