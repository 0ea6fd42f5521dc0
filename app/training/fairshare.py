"""Who trains next: the fair-share policy, and when each job should finish under it.

Pure functions over plain records, so the worker that trains jobs in turn
(app/training/scheduler.py), the order in which waiting jobs are taken (`waiting_order`)
and the forecasts the pages show all follow one rule:

1. Class members (learners and teachers of an open class) and the administrator come
   first; visitors' jobs train only when no member's job is waiting for a turn. A class is
   never held back by visitors.
2. A job that has not trained a step yet goes before the others (in the order it came), so
   every learner sees their curve start within seconds.
3. Otherwise the owner who has had the least training time goes next, and among their jobs
   the one that has had the least: one owner's three jobs share one owner's share, and a
   long job does not hold back the short ones that came after it. An owner who arrives
   starts level with the least-served owner training now, not with a credit of all the
   time they were away.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

EPSILON = 1e-9


@dataclass
class Turn:
    """An active job as the policy sees it."""

    job_id: str
    owner: str | None
    visitor: bool
    arrived: int  # the order jobs came in
    started: bool = False  # has trained at least one step
    served: float = 0.0  # seconds it has trained
    work_left: float = 0.0  # seconds of training it still needs (an estimate)

    @property
    def account(self) -> str:
        return self.owner or f"job:{self.job_id}"  # an owner-less job is its own owner


@dataclass
class FairShare:
    """The active jobs of one worker and each owner's training time."""

    turns: dict[str, Turn] = field(default_factory=dict)
    owner_served: dict[str, float] = field(default_factory=dict)
    _arrivals: int = 0

    def join(self, job_id: str, owner: str | None, visitor: bool) -> Turn:
        self._arrivals += 1
        turn = Turn(job_id, owner, visitor, self._arrivals)
        peers = [self.owner_served.get(t.account, 0.0) for t in self.turns.values()
                 if t.visitor == visitor and t.account != turn.account]
        level = min(peers, default=0.0)
        if not any(t.account == turn.account for t in self.turns.values()):
            self.owner_served[turn.account] = max(self.owner_served.get(turn.account, 0.0), level)
        self.turns[job_id] = turn
        return turn

    def leave(self, job_id: str) -> None:
        turn = self.turns.pop(job_id, None)
        if turn is not None and not any(t.account == turn.account for t in self.turns.values()):
            self.owner_served.pop(turn.account, None)

    def charge(self, job_id: str, seconds: float, started: bool, work_left: float) -> None:
        turn = self.turns[job_id]
        turn.served += seconds
        turn.started = turn.started or started
        turn.work_left = work_left
        self.owner_served[turn.account] = self.owner_served.get(turn.account, 0.0) + seconds

    def pick(self) -> str | None:
        """The job that trains next (None when there is none)."""
        return pick(list(self.turns.values()), self.owner_served)

    def forecast(self) -> dict[str, float]:
        return forecast(self.turns.values())


def _front(turns: Sequence[Turn]) -> list[Turn]:
    """The members' jobs if there are any, else the visitors'."""
    members = [t for t in turns if not t.visitor]
    return members or list(turns)


def pick(turns: Sequence[Turn], owner_served: dict[str, float]) -> str | None:
    if not turns:
        return None
    front = _front(turns)
    new = [t for t in front if not t.started]
    if new:
        return min(new, key=lambda t: t.arrived).job_id
    return min(front, key=lambda t: (owner_served.get(t.account, 0.0), t.served,
                                     t.arrived)).job_id


def forecast(turns: Iterable[Turn]) -> dict[str, float]:
    """Seconds from now until each job ends, if they share the worker as `pick` shares it
    (owners equally, each owner's jobs equally, members before visitors): the jobs' work
    left, played out as processor sharing."""
    left = {t.job_id: max(t.work_left, 0.0) for t in turns}
    by_id = {t.job_id: t for t in turns}
    now, ends = 0.0, {}
    while left:
        front = _front([by_id[j] for j in left])
        owners = Counter(t.account for t in front)
        rate = {t.job_id: 1.0 / (len(owners) * owners[t.account]) for t in front}
        step = min(left[j] / r for j, r in rate.items())
        now += step
        for j, r in rate.items():
            left[j] -= r * step
            if left[j] <= EPSILON * max(1.0, now):
                ends[j] = now
                del left[j]
    return ends


@dataclass(frozen=True)
class Waiting:
    """A queued job as the order of taking them sees it."""

    job_id: str
    owner: str | None
    visitor: bool
    created: float  # a timestamp: earlier first among equals


def waiting_order(waiting: Sequence[Waiting], active_per_owner: dict[str, int]) -> list[str]:
    """The order in which queued jobs are taken: members before visitors, then round robin
    over owners (an owner's k-th job after every other owner's (k−1)-th, counting the jobs
    they have training already), then first come."""
    seen: Counter[str] = Counter()
    keyed = []
    for w in sorted(waiting, key=lambda w: (w.created, w.job_id)):
        account = w.owner or f"job:{w.job_id}"
        rank = active_per_owner.get(account, 0) + seen[account]
        seen[account] += 1
        keyed.append(((w.visitor, rank, w.created, w.job_id), w.job_id))
    return [job_id for _, job_id in sorted(keyed)]
