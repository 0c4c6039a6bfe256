"""A consumer that stopped making progress gets a new Kafka client (ADR 0034).

aiokafka's consumer can stay alive after a broker restart without ever rejoining its group or
fetching again (aio-libs/aiokafka#703, #1154): the process looks healthy while its partitions
are applied by nobody. Nothing public in aiokafka says so, so the runner judges it from the
outside, with public calls only:

- A consumer is *healthy* when it applied a batch, or, idle, when a probe finds it caught up
  (each owned partition's end offset is the next offset it would apply), its group
  rebalancing (nobody fetches until the new assignment), or, owning nothing, a member of its
  group as the coordinator describes it (a group with more members than partitions leaves
  some with nothing, rightly).
- The runner's consume loop marks each healthy moment (``mark``); ``guard`` runs the loop and,
  once ``stall_seconds`` pass without a mark, cancels it, wherever it waits (a fetch, a commit,
  a stop that never returns), and raises ``ConsumerStalled``: the runner starts a new client,
  which seeks to the offsets stored with the effects, so nothing is skipped or applied twice.
- A broker that is down for longer than the window restarts the client once per window: that is
  what a human would do, and each restart is logged and counted
  (``promptworks_consumer_restarts_total``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from promptworks_eventkit.kafka import stop_quietly
from promptworks_eventkit.settings import KafkaSettings

log = structlog.get_logger(__name__)

REBALANCING = frozenset({"PreparingRebalance", "CompletingRebalance"})
"""Group states in which a member rightly fetches nothing until the new assignment."""
STOP_SECONDS = 10.0
"""How long a cancelled consume loop may take to stop its client before it is abandoned."""


class ConsumerStalled(Exception):
    """No progress and no healthy probe for the whole window: the client is replaced."""


class Watchdog:
    def __init__(
        self, *, kafka: KafkaSettings, group: str, client_id: str, stall_seconds: float
    ) -> None:
        self._kafka = kafka
        self._group = group
        self._client_id = client_id
        """The consumer's client id, unique to it: how the probe finds it among the members."""
        self.stall_seconds = stall_seconds
        self.probe_seconds = min(15.0, max(0.5, stall_seconds / 4))
        """Between two probes of an idle consumer: several chances within one window."""
        self.probe_timeout = min(10.0, stall_seconds / 2)
        """A probe's bound: a cold admin client's start and the group's description take
        several round trips, a second or more on a loaded machine."""
        self._healthy_at = time.monotonic()
        self._probed_at = float("-inf")
        self._admin: AIOKafkaAdminClient | None = None

    def mark(self) -> None:
        self._healthy_at = time.monotonic()

    def stalled_for(self) -> float:
        return time.monotonic() - self._healthy_at

    def probe_due(self) -> bool:
        return time.monotonic() - self._probed_at >= self.probe_seconds

    async def probe(
        self, consumer: AIOKafkaConsumer, next_offsets: Mapping[TopicPartition, int]
    ) -> None:
        """Marks the consumer healthy if it is caught up; else asks the group's coordinator: a
        rebalance under way (the consumer waits for it, rightly) or, owning nothing, being a
        listed member is healthy too. A probe that fails or times out marks nothing: the
        window runs on."""
        self._probed_at = time.monotonic()
        try:
            async with asyncio.timeout(self.probe_timeout):
                owned = list(consumer.assignment())
                if owned:
                    ends = await consumer.end_offsets(owned)
                    if all(next_offsets.get(tp, 0) >= end for tp, end in ends.items()):
                        self.mark()
                        return
                state, members = await self._describe_group()
                healthy = state in REBALANCING or (not owned and self._client_id in members)
        except Exception as error:  # a broker away, an admin client gone bad: not healthy
            log.info("consumer probe failed", group=self._group, error=repr(error))
            await self._drop_admin()
            return
        if healthy:
            self.mark()

    async def _describe_group(self) -> tuple[str, set[str]]:
        """The group's state and its members' client ids, as its coordinator describes them."""
        if self._admin is None:
            # Kept before it starts: a start that fails is closed by ``_drop_admin`` too.
            self._admin = AIOKafkaAdminClient(bootstrap_servers=self._kafka.bootstrap_servers)
            await self._admin.start()
        [response] = await self._admin.describe_consumer_groups([self._group])
        [group] = response.to_object()["groups"]
        return group["state"], {member["client_id"] for member in group["members"]}

    async def _drop_admin(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            await stop_quietly(admin.close(), STOP_SECONDS)

    async def guard(self, loop: Awaitable[None]) -> None:
        """Runs the consume loop; cancels it and raises ``ConsumerStalled`` once it has gone
        ``stall_seconds`` without a healthy mark. The window starts afresh with each loop."""
        self.mark()
        self._probed_at = float("-inf")
        task = asyncio.ensure_future(loop)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.probe_seconds)
                if done:
                    return task.result()
                if (stalled := self.stalled_for()) >= self.stall_seconds:
                    break
            task.cancel()
            # Its ``finally`` stops the client; a client that never stops is abandoned (the
            # runner's successor client makes its loop and listener inert).
            await asyncio.wait({task}, timeout=STOP_SECONDS)
            if not task.done():
                log.error("a stalled consume loop did not stop; abandoned", group=self._group)
            raise ConsumerStalled(f"no progress for {stalled:.0f} s")
        finally:
            if not task.done():  # the runner itself cancelled (the service stops)
                task.cancel()
                await asyncio.wait({task}, timeout=STOP_SECONDS)
            await self._drop_admin()
