"""The scale-to-zero sweep, run by a Temporal Schedule: suspend Ready workspaces nobody used lately.

Idleness is measured, not guessed: each run samples every Ready workspace's inference request counter
(vLLM's `vllm:request_success_total` from `/metrics`) and remembers, in its completion result, since when
each counter has stood still. The schedule hands that result to the next run. A workspace whose counter
has not moved for its idle window gets a `suspend` signal; its own workflow does the rest.
"""

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.activity_options import start_activity
    from workflows.durations import format_duration
    from workflows.sweep_contracts import (
        SWEEP_WORKFLOW,
        CounterSeen,
        SweepActivity,
        SweepCandidate,
        SweepCandidates,
        SweepInput,
        SweepResult,
        SweepState,
        TrafficSample,
    )
    from workflows.workspace_contracts import SignalName, SuspendRequest, TrafficObserved
    from workflows.workspace_spec import workflow_id_for


@workflow.defn(name=SWEEP_WORKFLOW)
class ScaleToZeroSweep:
    @workflow.run
    async def run(self, sweep: SweepInput) -> SweepResult:
        previous = sweep.previous or SweepState()
        if workflow.has_last_completion_result():
            previous = workflow.get_last_completion_result(SweepResult).state  # type: ignore[union-attr]
        listed = await start_activity(
            SweepActivity.LIST_CANDIDATES, result_type=SweepCandidates, summary="list Ready workspaces"
        )
        result = SweepResult(state=SweepState())
        active: list[SweepCandidate] = []
        for candidate in listed.candidates:
            if candidate.problem:
                result.problems.append(f"{candidate.ref.key}: {candidate.problem}")
            elif candidate.opted_out:
                result.opted_out.append(candidate.ref.key)
            else:
                active.append(candidate)
        samples = await asyncio.gather(
            *(
                start_activity(
                    SweepActivity.SAMPLE_TRAFFIC,
                    c.ref,
                    result_type=TrafficSample,
                    summary=f"read /metrics of {c.ref.key}",
                )
                for c in active
            )
        )
        now = workflow.now()
        for candidate, sample in zip(active, samples, strict=True):
            await self._judge(candidate, sample, previous, result, sweep.idle_window, now)
        return result

    async def _judge(
        self,
        candidate: SweepCandidate,
        sample: TrafficSample,
        previous: SweepState,
        result: SweepResult,
        default_window: timedelta,
        now: datetime,
    ) -> None:
        key = candidate.ref.key
        result.checked.append(key)
        seen = previous.counters.get(key)
        if sample.requests_total is None:
            result.unreachable.append(key)
            if seen:
                result.state.counters[key] = seen  # keep the clock running; never suspend on no data
            return
        handle = workflow.get_external_workflow_handle(
            workflow_id_for(candidate.ref.namespace, candidate.ref.name)
        )
        if seen is None or seen.total != sample.requests_total:
            result.state.counters[key] = CounterSeen(total=sample.requests_total, since=now)
            await _signal(handle, SignalName.TRAFFIC_OBSERVED, TrafficObserved(at=now))
            return
        if candidate.awake_since is not None and seen.since < candidate.awake_since:
            seen = CounterSeen(total=seen.total, since=candidate.awake_since)  # woken since: clock restarts
        result.state.counters[key] = seen
        window = candidate.idle_window or default_window
        if now - seen.since >= window:
            idle = format_duration(now - seen.since)
            reason = f"no inference requests for {idle} (idle window {format_duration(window)})"
            if await _signal(handle, SignalName.SUSPEND, SuspendRequest(reason=reason)):
                result.suspended.append(key)


async def _signal(handle: workflow.ExternalWorkflowHandle[object], name: str, payload: object) -> bool:
    """Signal a workspace workflow; one that has ended since the listing is simply skipped."""
    try:
        await handle.signal(name, payload)
    except Exception as err:  # the external signal fails when that workflow is no longer running
        workflow.logger.info("could not signal %s: %s", handle.id, err)
        return False
    return True
