"""A deterministic 7moor account: channels, agents, custom columns and their traffic.

Every figure is built from half-hour slots: a slot's counters are a pure function of the
account seed, the channel or agent, and the slot's start. A report over any window sums
the slots inside it, so a day's figures are the same in a one-day window and inside a
month window, and `report_rows` is both what the server answers and the ground truth.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

SLOT = dt.timedelta(minutes=30)
DIMENSIONS = ("half_hour", "hour", "day", "month", "year")

SESSION_COUNTERS = (
    "initCount",
    "validCount",
    "robotCount",
    "robotOnlyCount",
    "robotManualSucCount",
    "manualCount",
    "queueUpCount",
    "queueGiveUpCount",
    "lossCount",
    "finishCount",
    "inviteCount",
    "transferCount",
    "leavingCount",
    "noVisitorMsgCount",
    "noReplyCount",
    "msgCount",
    "agentSendMsgCount",
    "visitorSendMsgCount",
    "evaluateCount",
    "pushCsrCount",
)
WORKLOAD_COUNTERS = (
    "initCount",
    "assignCount",
    "invalidCount",
    "inviteCount",
    "receiveLeavingCount",
    "delLeavingCount",
    "transferOutCount",
    "transferInCount",
    "replyCount",
    "noVisitorMsgCount",
    "finishCount",
    "agentSendMsgCount",
    "visitorSendMsgCount",
)


@dataclass(frozen=True)
class Agent:
    agent_id: str  # the id agentList takes
    display: str  # what rows carry as agentId, e.g. "在线客服[8029]"
    weight: int  # share of the traffic


@dataclass(frozen=True)
class CustomColumn:
    prop: str  # a UUID
    label: str


@dataclass(frozen=True)
class Account:
    app_key: str = "2000103"
    secret_key: str = "emulator-secret-7f3a9c"
    seed: str = "moor7-emulator-account-1"
    access_ids: tuple[str, ...] = ("jT5AH3dA7dtMNjAQ", "XhRRVj3VLLVYsoNA", "Qm2Wc8Rk4TbZ9pLe")
    agents: tuple[Agent, ...] = (
        Agent("6062db21d316840011c6b992", "在线客服[8029]", 5),
        Agent("6008192e58151c00119ab181", "庞磊[8238]", 4),
        Agent("5f9a1c0e2b7d4e0012a3c001", "别动[6012]", 3),
        Agent("5f9a1c0e2b7d4e0012a3c002", "6014[6014]", 3),
        Agent("5f9a1c0e2b7d4e0012a3c003", "夜班 客服[8031]", 2),
        Agent("5f9a1c0e2b7d4e0012a3c004", "机器人助手", 1),
    )
    agent_states: tuple[CustomColumn, ...] = (
        CustomColumn("1b1070a2-e9f4-42c2-9f21-b2aab5b74119", "在线总时长"),
        CustomColumn("8b7ad7a6-945a-4a76-a1e6-b9c53ef6d08f", "忙碌总时长"),
        CustomColumn("f1ed03f7-b42c-406b-ac08-f441c8982d6d", "小休总时长"),
    )
    satisfaction_levels: tuple[CustomColumn, ...] = (
        CustomColumn("4bdb8852-0ec4-4597-b407-3f268ac3cd18", "非常满意"),
        CustomColumn("bb90cf04-e6a5-4633-af3f-19eee6f025f9", "满意"),
        CustomColumn("f71212c6-0927-4bad-99dc-a61f73fe2233", "一般"),
        CustomColumn("dceb6c54-5a00-4114-a36f-0f4e8e0f8659", "很不满意"),
    )
    # Only agent reports with many agents for benchmarks: extra generated agents.
    extra_agents: int = 0
    # The session report leaves out the buckets without a session, as some accounts' do.
    omit_empty_buckets: bool = False
    # The account's first day of data (YYYY-MM-DD): before it, every report is empty.
    first_day: str | None = None

    def opened_by(self, end: dt.datetime) -> bool:
        """The account had data by `end`."""
        return self.first_day is None or end >= dt.datetime.fromisoformat(self.first_day)

    def all_agents(self) -> tuple[Agent, ...]:
        if not self.extra_agents:
            return self.agents
        extra = tuple(
            Agent(f"a{index:023x}", f"坐席{index:04d}[{9000 + index}]", 1 + index % 4) for index in range(self.extra_agents)
        )
        return self.agents + extra


# --- slot traffic -----------------------------------------------------------------------


def _numbers(*key: str) -> bytes:
    return hashlib.blake2b("|".join(key).encode(), digest_size=32).digest()


def _load(slot: dt.datetime) -> float:
    """Office hours are busy, nights quiet, weekends light."""
    hour = slot.hour + slot.minute / 60
    weekend = slot.weekday() >= 5
    if 9 <= hour < 18:
        base = 1.0
    elif 8 <= hour < 9 or 18 <= hour < 21:
        base = 0.4
    else:
        base = 0.03
    return base * (0.3 if weekend else 1.0)


@lru_cache(maxsize=200_000)
def session_slot(seed: str, access_id: str, slot: dt.datetime) -> tuple[int, ...]:
    """The session counters of one channel in one half-hour slot, plus total duration."""
    raw = _numbers(seed, "session", access_id, slot.isoformat())
    sessions = int(raw[0] % 13 * _load(slot))
    if sessions == 0:
        return (0,) * (len(SESSION_COUNTERS) + 1)
    robot = sessions * (raw[1] % 60) // 100
    robot_only = robot * (raw[2] % 80 + 20) // 100
    robot_to_human = robot - robot_only
    manual = sessions - robot_only
    queued = manual * (raw[3] % 40) // 100
    queue_give_up = queued * (raw[4] % 30) // 100
    loss = manual * (raw[5] % 10) // 100
    finish = sessions - loss - queue_give_up
    valid = sessions - sessions * (raw[6] % 15) // 100
    invite = raw[7] % 3 if sessions > 2 else 0
    transfer = manual * (raw[8] % 10) // 100
    leaving = raw[9] % 2
    no_visitor_msg = sessions * (raw[10] % 20) // 100
    no_reply = sessions * (raw[11] % 10) // 100
    visitor_msgs = sessions * (raw[12] % 9 + 2)
    agent_msgs = manual * (raw[13] % 7 + 1)
    evaluate = manual * (raw[14] % 50) // 100
    push_csr = evaluate + manual * (raw[15] % 20) // 100
    duration = sessions * (raw[16] * 4 + raw[17] % 60 + 30)
    return (
        sessions,
        valid,
        robot,
        robot_only,
        robot_to_human,
        manual,
        queued,
        queue_give_up,
        loss,
        finish,
        invite,
        transfer,
        leaving,
        no_visitor_msg,
        no_reply,
        visitor_msgs + agent_msgs,
        agent_msgs,
        visitor_msgs,
        evaluate,
        push_csr,
        duration,
    )


@lru_cache(maxsize=200_000)
def agent_slot(seed: str, agent_id: str, weight: int, slot: dt.datetime, states: int, levels: int) -> tuple[int, ...]:
    """One agent's counters in one half-hour slot. Layout: workload counters, login seconds,
    seconds per custom state, first-response total, session total, message-response total,
    agent rating invitations, solved-in-24h, solved-in-48h, evaluations per level."""
    raw = _numbers(seed, "agent", agent_id, slot.isoformat())
    load = _load(slot)
    logged_in = raw[0] % 100 < int(95 * load) + 2
    if not logged_in:
        return (0,) * (len(WORKLOAD_COUNTERS) + 1 + states + 6 + levels)
    sessions = int(raw[1] % (3 * weight + 1) * load)
    assigned = sessions - (raw[2] % 2 if sessions else 0)
    valid = sessions - sessions * (raw[3] % 15) // 100
    invite = raw[4] % 2 if sessions else 0
    receive_leaving = raw[5] % 3 // 2
    del_leaving = receive_leaving if raw[6] % 4 else 0
    transfer_out = sessions * (raw[7] % 10) // 100
    transfer_in = raw[8] % 5 // 4
    reply = sessions - sessions * (raw[9] % 8) // 100
    no_visitor_msg = sessions * (raw[10] % 20) // 100
    finish = sessions - transfer_out
    agent_msgs = reply * (raw[11] % 6 + 1)
    visitor_msgs = sessions * (raw[12] % 8 + 1)
    login = 1800 - raw[13] % 120
    remaining = login
    state_seconds = []
    for index in range(states):
        # sparse: some slots spend no time at all in a state
        share = 0 if raw[14 + index] % 5 == 0 else remaining * (raw[14 + index] % 60) // 100
        state_seconds.append(share)
        remaining -= share
    first_response = reply * (raw[20] % 40 + 5)
    session_total = sessions * (raw[21] * 3 + 60)
    message_response = reply * (raw[22] % 30 + 3)
    agent_push = sessions * (raw[23] % 30) // 100
    solved_24 = finish * (raw[24] % 40 + 60) // 100
    solved_48 = min(finish, solved_24 + finish * (raw[25] % 20) // 100)
    evaluations = [0] * levels
    for index in range(sessions * (raw[26] % 60) // 100):
        evaluations[raw[27 + index % 5] % levels if index % 3 else 1 % levels] += 1
    return (
        sessions,
        assigned,
        valid,
        invite,
        receive_leaving,
        del_leaving,
        transfer_out,
        transfer_in,
        reply,
        no_visitor_msg,
        finish,
        agent_msgs,
        visitor_msgs,
        login,
        *state_seconds,
        first_response,
        session_total,
        message_response,
        agent_push,
        solved_24,
        solved_48,
        *evaluations,
    )


# --- calendar --------------------------------------------------------------------------


def bucket_start(moment: dt.datetime, dimension: str) -> dt.datetime:
    if dimension == "half_hour":
        return moment.replace(minute=moment.minute // 30 * 30, second=0, microsecond=0)
    if dimension == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    if dimension == "day":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if dimension == "month":
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)


def bucket_label(start: dt.datetime, dimension: str) -> str:
    """Labels: `day` as documented ("2021-08-05"); the rest as the emulator's choice."""
    if dimension == "half_hour":
        return start.strftime("%Y-%m-%d %H:%M")
    if dimension == "hour":
        return start.strftime("%Y-%m-%d %H")
    if dimension == "day":
        return start.strftime("%Y-%m-%d")
    if dimension == "month":
        return start.strftime("%Y-%m")
    return start.strftime("%Y")


def slots(start: dt.datetime, end: dt.datetime) -> Iterable[dt.datetime]:
    """Slot starts in [start, end] (end inclusive, to the second, as createTime is)."""
    slot = start.replace(minute=start.minute // 30 * 30, second=0, microsecond=0)
    if slot < start:
        slot += SLOT
    while slot <= end:
        yield slot
        slot += SLOT


# --- reports ---------------------------------------------------------------------------


def session_rows(
    account: Account, start: dt.datetime, end: dt.datetime, dimension: str, access_ids: Sequence[str] | None = None
) -> list[dict[str, object]]:
    """The session report for [start, end]: one row per bucket that the window touches."""
    channels = [a for a in account.access_ids if not access_ids or a in access_ids]
    totals: dict[dt.datetime, list[int]] = {}
    bucket = bucket_start(start, dimension)
    for slot in slots(start, end):
        bucket = bucket_start(slot, dimension) if dimension != "half_hour" else slot
        row = totals.setdefault(bucket, [0] * (len(SESSION_COUNTERS) + 1))
        if not account.opened_by(slot):
            continue
        for channel in channels:
            values = session_slot(account.seed, channel, slot)
            if values[0]:
                for index, value in enumerate(values):
                    row[index] += value
    # Buckets the window touches but that hold no slot start still appear, with zeros.
    moment = bucket_start(start, dimension)
    while moment <= end:
        totals.setdefault(moment, [0] * (len(SESSION_COUNTERS) + 1))
        moment = _next_bucket(moment, dimension)
    rows = []
    for bucket in sorted(totals):
        values = totals[bucket]
        if (account.omit_empty_buckets and not values[0]) or not account.opened_by(_next_bucket(bucket, dimension) - SLOT):
            continue
        row: dict[str, object] = {"time": bucket_label(bucket, dimension)}
        for name, value in zip(SESSION_COUNTERS, values):
            row[name] = value
        row["sessionTimeLen"] = values[-1] // values[0] if values[0] else 0
        # keep the vendor's column order: sessionTimeLen before pushCsrCount
        push = row.pop("pushCsrCount")
        row["pushCsrCount"] = push
        rows.append(row)
    return rows


def _next_bucket(moment: dt.datetime, dimension: str) -> dt.datetime:
    if dimension == "half_hour":
        return moment + SLOT
    if dimension == "hour":
        return moment + dt.timedelta(hours=1)
    if dimension == "day":
        return moment + dt.timedelta(days=1)
    if dimension == "month":
        return moment.replace(year=moment.year + 1, month=1) if moment.month == 12 else moment.replace(month=moment.month + 1)
    return moment.replace(year=moment.year + 1)


def _agent_totals(account: Account, agent: Agent, start: dt.datetime, end: dt.datetime) -> tuple[int, ...]:
    return _window_totals(
        account.seed, agent.agent_id, agent.weight, start, end, len(account.agent_states), len(account.satisfaction_levels)
    )


# The workload and quality reports sum the same agent-days, and so do the ground truths the
# tests compare against: each window's sums are made once.
@lru_cache(maxsize=50_000)
def _window_totals(
    seed: str, agent_id: str, weight: int, start: dt.datetime, end: dt.datetime, states: int, levels: int
) -> tuple[int, ...]:
    total = [0] * (len(WORKLOAD_COUNTERS) + 1 + states + 6 + levels)
    for slot in slots(start, end):
        values = agent_slot(seed, agent_id, weight, slot, states, levels)
        if values[len(WORKLOAD_COUNTERS)]:  # logged in
            for index, value in enumerate(values):
                total[index] += value
    return tuple(total)


def _selected_agents(account: Account, agent_list: Sequence[str] | None, end: dt.datetime) -> list[Agent]:
    if not account.opened_by(end):
        return []
    return [a for a in account.all_agents() if not agent_list or a.agent_id in agent_list]


def workload_rows(
    account: Account, start: dt.datetime, end: dt.datetime, agent_list: Sequence[str] | None = None
) -> list[dict[str, object]]:
    rows = []
    counters = len(WORKLOAD_COUNTERS)
    for agent in _selected_agents(account, agent_list, end):
        total = _agent_totals(account, agent, start, end)
        row: dict[str, object] = {"agentId": agent.display}
        row.update(zip(WORKLOAD_COUNTERS, total[:counters]))
        every: dict[str, int] = {}
        for column, seconds in zip(account.agent_states, total[counters + 1 : counters + 1 + len(account.agent_states)]):
            if seconds:  # sparse, as the vendor's sample
                every[column.prop] = seconds
        every["loginTotalTimeLength"] = total[counters]
        row["everyTimeLength"] = every
        rows.append(row)
    return rows


def _rate(part: int, whole: int) -> float:
    return round(part * 100 / whole, 2) if whole else 0


def quality_rows(
    account: Account, start: dt.datetime, end: dt.datetime, agent_list: Sequence[str] | None = None
) -> list[dict[str, object]]:
    rows = []
    counters = len(WORKLOAD_COUNTERS)
    states = len(account.agent_states)
    for agent in _selected_agents(account, agent_list, end):
        t = _agent_totals(account, agent, start, end)
        w = dict(zip(WORKLOAD_COUNTERS, t[:counters]))
        first_response, session_total, message_response, agent_push, solved_24, solved_48 = t[
            counters + 1 + states : counters + 7 + states
        ]
        evaluations = t[counters + 7 + states :]
        evaluated = sum(evaluations)
        push = max(agent_push, evaluated)
        row: dict[str, object] = {
            "agentId": agent.display,
            "initCount": w["initCount"],
            "assignCount": w["assignCount"],
            "invalidCount": w["invalidCount"],
            "inviteCount": w["inviteCount"],
            "replyCount": w["replyCount"],
            "firstResponseNotIncludeLen": first_response,
            "sessionNotIncludeTimeLen": session_total,
            "avgFirstResponseNotIncludeLen": first_response // w["replyCount"] if w["replyCount"] else 0,
            "avgSessionNotIncludeTimeLen": session_total // w["initCount"] if w["initCount"] else 0,
            "avgMsgResponseLen": message_response // w["replyCount"] if w["replyCount"] else 0,
            "pushCsrCount": push,
            "agentPushCsrCount": agent_push,
            "pushCsrRate": _rate(push, w["initCount"]),
            "evaluateCount": evaluated,
            "evaluateRate": _rate(evaluated, push),
            "quesAndAnswerRate": _rate(w["agentSendMsgCount"], w["visitorSendMsgCount"]),
            "twentyFourHourSolutionRate": _rate(solved_24, w["finishCount"]),
            "fortyEightHourSolutionRate": _rate(solved_48, w["finishCount"]),
            "satisfaction": {
                column.prop: _rate(count, evaluated)
                for column, count in zip(account.satisfaction_levels, evaluations)
                if count  # sparse, as the vendor's sample
            },
        }
        rows.append(row)
    return rows


# --- headers ---------------------------------------------------------------------------


def _column(prop: str, label: str, show: bool = True, custom: bool = False, flag: str = "isCustomHeader") -> dict[str, object]:
    return {flag: custom, "prop": prop, "show": show, "width": 120, "label": label}


SESSION_LABELS = (
    ("time", "时间"),
    ("initCount", "总会话数"),
    ("validCount", "有效会话数"),
    ("robotCount", "机器人会话数"),
    ("robotOnlyCount", "机器人独立接待会话数"),
    ("robotManualSucCount", "机器人转人工成功数"),
    ("manualCount", "人工服务数"),
    ("queueUpCount", "排队数"),
    ("queueGiveUpCount", "排队放弃数"),
    ("lossCount", "流失会话数"),
    ("finishCount", "完成会话数"),
    ("inviteCount", "主动会话数"),
    ("transferCount", "转接会话数"),
    ("leavingCount", "留言数"),
    ("noVisitorMsgCount", "访客无消息会话数"),
    ("noReplyCount", "未回复会话数"),
    ("msgCount", "总消息数"),
    ("agentSendMsgCount", "座席消息数"),
    ("visitorSendMsgCount", "访客消息数"),
    ("evaluateCount", "评价数"),
    ("sessionTimeLen", "平均会话时长"),
    ("pushCsrCount", "邀评数"),
)
WORKLOAD_LABELS = (
    ("agentId", "座席姓名"),
    ("initCount", "接待会话总数"),
    ("assignCount", "分配会话数"),
    ("invalidCount", "有效会话数"),
    ("inviteCount", "主动会话数"),
    ("receiveLeavingCount", "接入留言数"),
    ("delLeavingCount", "处理留言数"),
    ("transferOutCount", "转出会话数"),
    ("transferInCount", "转入会话数"),
    ("replyCount", "响应会话数"),
    ("noVisitorMsgCount", "访客无消息会话数"),
    ("finishCount", "完成会话数"),
    ("agentSendMsgCount", "回复消息数"),
    ("visitorSendMsgCount", "接收消息数"),
    ("loginTotalTimeLength", "登录总时长"),
)
QUALITY_LABELS = (
    ("agentId", "座席姓名"),
    ("initCount", "接待会话总数"),
    ("assignCount", "分配会话数"),
    ("invalidCount", "有效会话数"),
    ("inviteCount", "主动会话数"),
    ("replyCount", "响应会话数"),
    ("firstResponseNotIncludeLen", "首响总时长"),
    ("sessionNotIncludeTimeLen", "会话总时长"),
    ("avgFirstResponseNotIncludeLen", "平均首响时长"),
    ("avgSessionNotIncludeTimeLen", "平均会话时长"),
    ("avgMsgResponseLen", "平均响应时长"),
    ("pushCsrCount", "邀评数"),
    ("agentPushCsrCount", "座席主动邀评数"),
    ("pushCsrRate", "邀评率"),
    ("evaluateCount", "参评数"),
    ("evaluateRate", "参评率"),
    ("quesAndAnswerRate", "答问比"),
    ("twentyFourHourSolutionRate", "24h一次性解决率"),
    ("fortyEightHourSolutionRate", "48h一次性解决率"),
)
HIDDEN_SESSION_COLUMNS = {
    "queueUpCount",
    "transferCount",
    "leavingCount",
    "noVisitorMsgCount",
    "noReplyCount",
    "msgCount",
    "agentSendMsgCount",
    "visitorSendMsgCount",
    "pushCsrCount",
}


def session_header(account: Account) -> list[dict[str, object]]:
    header = [_column(prop, label, show=prop not in HIDDEN_SESSION_COLUMNS) for prop, label in SESSION_LABELS]
    header[0]["width"] = "200"  # the vendor's sample has this one width as a string
    return header


def workload_header(account: Account) -> list[dict[str, object]]:
    return [_column(prop, label) for prop, label in WORKLOAD_LABELS] + [
        _column(c.prop, c.label, custom=True) for c in account.agent_states
    ]


def quality_header(account: Account) -> list[dict[str, object]]:
    # the satisfaction columns carry `customHeader`, not `isCustomHeader`, as in the vendor's sample
    return [_column(prop, label) for prop, label in QUALITY_LABELS] + [
        _column(c.prop, c.label, custom=False, flag="customHeader") for c in account.satisfaction_levels
    ]
