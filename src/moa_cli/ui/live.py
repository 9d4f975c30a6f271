"""The terminal front end: live reference panels (see ``panels``), then the answer streamed as Markdown."""

from __future__ import annotations

import math
import threading
import time

from rich.console import Console, Group, RenderableType
from rich.constrain import Constrain
from rich.live import Live
from rich.markdown import Markdown
from rich.panel import Panel
from rich.spinner import Spinner
from rich.text import Text

from moa_cli.events import (
    Agent,
    AgentDone,
    AgentFailed,
    AgentQueued,
    AgentResult,
    AgentRetrying,
    AgentStarted,
    AgentTrimmed,
    AgentWaiting,
    Event,
    MoaResult,
    ReasoningDelta,
    TextDelta,
)
from moa_cli.ui.format import agent_stats, best_reference, fallback_note, run_stats, unshown_answer
from moa_cli.ui.markdown_stream import MarkdownStream
from moa_cli.ui.panels import PanelGrid, ReferencePanel
from moa_cli.ui.reflow import erase_rewrapped
from moa_cli.ui.sanitize import strip_controls


ENDING_HOLD = 0.5
"""The longest the panels go undrawn while a layer's references keep ending (see ``_redraw``)."""


class LiveRenderer:
    """Draws a run on a terminal. Redraws are capped by ``Live``; events only update state."""

    aggregator_note = ""
    """The aggregator's countdown while it waits for its rate limit, shown under the panels."""

    def __init__(
        self,
        console: Console,
        *,
        layers: int = 1,
        show_reasoning: bool = False,
        refresh_per_second: float = 8,
    ) -> None:
        self.console = console
        self.layers = layers
        self.show_reasoning = show_reasoning
        self.panels: dict[Agent, ReferencePanel] = {}
        self.layer_panels: list[ReferencePanel] = []
        self.answer = MarkdownStream()
        self.aggregator: Agent | None = None
        self.reasoning: list[str] = []
        self.live = Live(
            console=console,
            get_renderable=self._renderable,
            auto_refresh=False,  # redrawn by _redraw, which lets the hop between layers go first
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        erase_rewrapped(self.live, console)  # a narrower window must not leave old panels behind
        self.live.start()
        self._stopped = threading.Event()
        self._redraws = threading.Thread(target=self._redraw, args=(1 / refresh_per_second,), daemon=True)
        self._redraws.start()

    def _redraw(self, every: float) -> None:
        """Redraw every ``every`` seconds, but not during a hop: a redraw holds the GIL for
        milliseconds (more at 64 references), and the next stage's requests must not wait for it.

        References tend to end together, and the last of them may end at any moment: while they
        keep ending (one or more since the last tick), redraws wait, up to ``ENDING_HOLD`` seconds.
        """
        ended, drawn = 0, time.monotonic()
        while not self._stopped.wait(every):
            if self._between_stages():
                continue
            now_ended = sum(panel.result.status != "running" for panel in self.layer_panels)
            ending = self.aggregator is None and now_ended > ended and now_ended < len(self.layer_panels)
            ended = now_ended
            if ending and time.monotonic() - drawn < ENDING_HOLD:
                continue
            self.live.refresh()
            drawn = time.monotonic()

    def _between_stages(self) -> bool:
        """Every reference of the layer has ended and nothing of the next stage has come yet."""
        panels = self.layer_panels
        if self.aggregator is not None or self.aggregator_note or not panels:
            return False
        return all(panel.result.status != "running" for panel in panels)

    def _renderable(self) -> RenderableType:
        if self.aggregator is None:
            grid = PanelGrid(self.layer_panels)
            return Group(grid, Text(self.aggregator_note, style="yellow")) if self.aggregator_note else grid
        parts: list[object] = []
        if self.show_reasoning and self.reasoning and not self.answer.parts:
            tail = strip_controls("".join(self.reasoning)[-600:])
            parts.append(Text(tail, style="dim italic"))
        parts.append(self.answer)
        if not self.answer.parts:
            parts.append(Spinner("dots", Text(f" {self.aggregator.model} is writing the answer…", style="dim")))
        # Two columns spare, as in PanelGrid: a code block's full-width last line must not wrap on ^C.
        return Constrain(Group(*parts), width=self.console.width - 2)  # type: ignore[arg-type]

    def handle(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            if event.agent.role == "aggregator":
                self.answer.feed(event.text)
                if "\n" in event.text and (block := self.answer.take_finished()) is not None:
                    self._print(block)
            return
        if isinstance(event, ReasoningDelta):
            if event.agent.role == "aggregator":
                self.reasoning.append(event.text)
            return
        if isinstance(event, AgentStarted):
            self._started(event)
            if (panel := self.panels.get(event.agent)) is not None:
                panel.note = ""
        elif isinstance(event, AgentWaiting):
            self._waiting(event)
        elif isinstance(event, AgentTrimmed):
            self._print(Text(strip_controls(event.note), style="yellow"))
        elif isinstance(event, AgentRetrying) and event.agent in self.panels:
            self.panels[event.agent].note = strip_controls(f"{event.reason}\nretrying in {event.wait:.2g}s")
        elif isinstance(event, AgentQueued) and event.agent in self.panels:
            self.panels[event.agent].note = ""  # waiting for its turn, then sent: no longer retrying
        elif isinstance(event, AgentDone | AgentFailed):
            agent = event.result.agent
            if agent.role == "reference" and agent not in self.panels:  # refused before it was sent
                self._started(AgentStarted(agent, event.result))
            if (panel := self.panels.get(agent)) is not None:
                panel.note = ""

    def _waiting(self, event: AgentWaiting) -> None:
        note = strip_controls(f"{event.reason}; sending in {math.ceil(event.wait)}s")
        if event.agent.role == "aggregator":
            self.aggregator_note = f"{event.agent.model}: {note}"
            return
        if event.agent not in self.panels:  # waiting before its request leaves: a panel for it already
            self._started(AgentStarted(event.agent, AgentResult(event.agent, started_at=time.perf_counter())))
        self.panels[event.agent].note = note

    def _started(self, event: AgentStarted) -> None:
        agent = event.agent
        if agent.role == "reference":
            if self.layer_panels and self.layer_panels[0].result.agent.layer != agent.layer:
                self._print_layer_summary()
            if agent not in self.panels:
                self.panels[agent] = ReferencePanel(event.result, self.show_reasoning)
                self.layer_panels.append(self.panels[agent])
            else:  # drawn while it waited for its rate limit: from now on, the engine's record
                self.panels[agent].result = event.result
        else:
            self.aggregator, self.aggregator_note = agent, ""  # the live region is now a spinner
            self._print_layer_summary()

    def _print_layer_summary(self) -> None:
        panels, self.layer_panels = self.layer_panels, []
        if not panels:
            return
        heading = f"layer {panels[0].result.agent.layer}: " if self.layers > 1 else ""
        lines: list[Text] = []
        for panel in panels:
            result = panel.result
            mark, style = ("✓", "green") if result.ok else ("✗", "red")
            line = Text(f"{mark} ", style=style)
            line.append(f"{heading}{result.agent.label}", style="bold")
            error = (result.error or result.status).removeprefix(f"{result.agent.model}: ")
            detail = agent_stats(result) if result.ok else strip_controls(error)
            line.append(f"  {detail}", style="dim" if result.ok else "red")
            if result.warning:
                line.append(f"\n  ⚠ {strip_controls(result.warning)}", style="yellow")
            lines.append(line)
        lines.append(Text())
        # One print: each print under Live also redraws the live region.
        self._print(Text("\n").join(lines))

    def _print(self, renderable: RenderableType) -> None:
        """Prints above the live region. Live's lock is held: Rich draws a print outside it, and a
        refresh between this print's cursor move and its drawing would leave old panels behind."""
        with self.live._lock:
            self.console.print(renderable)

    def close(self, result: MoaResult) -> None:
        self._stopped.set()
        self._redraws.join()
        self.live.stop()
        if self.aggregator is None:
            self._print_layer_summary()
        if missing := unshown_answer(result, sum(map(len, self.answer.parts))):
            self.answer.feed(missing)  # arrived and stored, still on its way when the run stopped
        rest = self.answer.take_rest()
        if rest is not None:
            self.console.print(rest)
        if result.status == "failed":
            self._print_kept_answers(result)
        elif result.status == "interrupted":  # stopped on purpose: kept in the store, not shown
            self.console.print(Text("(what arrived is saved: moa sessions show --refs)", style="dim"))
        elif result.elapsed is not None:
            self.console.print()
            if result.aggregator is not None and result.aggregator.warning:
                self.console.print(Text(f"⚠ {strip_controls(result.aggregator.warning)}", style="yellow"))
            self.console.print(Text(run_stats(result), style="dim"))

    def _print_kept_answers(self, result: MoaResult) -> None:
        """When there is no aggregated answer, show the best reference answer, labelled as such."""
        best = best_reference(result)
        if best is None:
            return
        self.console.print(
            Panel(
                Markdown(strip_controls(best.text)),
                title=Text(fallback_note(best, result), style="bold yellow"),
                title_align="left",
                subtitle=Text("all answers: /refs in chat, moa sessions show --refs", style="dim"),
                subtitle_align="left",
            )
        )
