"""What schoolnet-fleet prints: zh-CN first, English beside, one line per thing a county
engineer acts on. Nothing here ever prints a password: only paths to the files that hold them."""

from __future__ import annotations

import sys
from pathlib import Path

from fleet.plan import Change, Desired, Plan
from fleet.retire import RetiredSchool, by_hand, clear_status
from fleet.state import State
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


def clear_retired(planned: Plan, state: State, broker: str | None, ca: Path | None) -> dict[str, str | None]:
    """Clears the retained status of each school being retired, while its account still
    works; subject -> None (cleared) or what went wrong."""
    outcome: dict[str, str | None] = {}
    if not broker:
        return outcome
    manifest = state.manifest()
    for change in planned.of("school_retired"):
        county, school_id = change.subject.split("/", 1)
        school = RetiredSchool(county, school_id, manifest["schools"][change.subject]["fields"]["user"], change.name)
        outcome[change.subject] = clear_status(school, state.password_path(county, school_id), broker,
                                               str(ca) if ca else None)
    return outcome


def mark_cleared(state: State, cleared: dict[str, str | None]) -> None:
    manifest = state.manifest()
    for subject, error in cleared.items():
        if error is None and subject in manifest.get("retired", {}):
            manifest["retired"][subject]["status_cleared"] = True
    state.save_manifest(manifest)


def applied(done, state: State, cleared: dict[str, str | None]) -> None:
    for path in done.written:
        say(f"已写入 written: {path}")
    for school in done.retired:
        error = cleared.get(f"{school.county}/{school.school}", "not asked")
        if error is None:
            say(f"已清除保留状态 retained status cleared: {school.county}/{school.school}")
        else:
            password = state.retired_dir(school.county, school.school) / "mqtt.password"
            say(f"! 请在重新加载消息服务器之前清除 {school.county}/{school.school} 的保留状态 / clear its retained "
                f"status before reloading the broker ({error}): {by_hand(school, password)}")
    if any(p.startswith("broker/") for p in done.written):
        say("消息服务器账号已变更：请重新加载 / broker accounts changed: reload mosquitto (systemctl reload mosquitto)")
    if any(p.startswith("alertmanager/") for p in done.written):
        say("告警路由已变更：填写密钥后重新加载 / alert routes changed: fill in the secrets, then reload Alertmanager")
    say(f"完成 done: {len(done.written)} 个文件 files written in {state.root}" if done.written else
        "完成 done: 无变更 nothing changed")
