"""The terminal front end: a live panel per reference model, then the answer streamed as Markdown."""

from __future__ import annotations

import math
import time

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.constrain import Constrain
from rich.live import Live
from rich.markdown import Markdown
from rich.panel import Panel
from rich.spinner import Spinner
from rich.table import Table
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
from moa_cli.ui.format import agent_stats, best_reference, fallback_note, run_stats
from moa_cli.ui.markdown_stream import MarkdownStream
from moa_cli.ui.sanitize import strip_controls

STATE_STYLE = {
    "waiting": "dim",
    "queued": "dim",
    "thinking": "magenta",
    "streaming": "cyan",
    "retrying": "yellow",
    "done": "green",
    "failed": "red",
    "timed_out": "red",
    "dropped": "yellow",
    "interrupted": "yellow",
}
STATE_WORD = {"timed_out": "timed out", "dropped": "left out (slow)"}


def tail(parts: list[str], chars: int) -> str:
    """The last ``chars`` characters of ``"".join(parts)``, joining only the parts needed.

    Only the end of a reference's text is wrapped for its panel, so a redraw costs the same at
    the thousandth token as at the first.
    """
    taken: list[str] = []
    size = 0
    for part in reversed(parts):
        taken.append(part)
        size += len(part)
        if size >= chars:
            break
    return "".join(reversed(taken))[-chars:]


class ReferencePanel:
    """One reference model's live state, drawn as a panel showing the end of its answer."""

    def __init__(self, result: AgentResult, show_reasoning: bool) -> None:
        self.result = result
        self.show_reasoning = show_reasoning
        self.note = ""
        self.height = 8
        self._body: tuple[tuple[object, ...], Text] | None = None

    @property
    def state(self) -> str:
        status = self.result.status
        if status != "running":
            return status
        if self.result.queued:
            return "queued"
        if self.note:
            return "retrying"
        if self.result.text_parts:
            return "streaming"
        return "thinking" if self.result.reasoning_parts else "waiting"

    def subtitle(self) -> Text:
        state = self.state
        words = [STATE_WORD.get(state, state)]
        if self.result.status == "running":
            words.append(f"{time.perf_counter() - self.result.started_at:.1f}s")
            if self.result.streamed:
                words.append(f"{self.result.streamed:,} tokens")
        elif stats := agent_stats(self.result):
            words.append(stats)
        return Text(" · ".join(words), style=STATE_STYLE.get(state, ""))

    def body(self, width: int, lines: int) -> Text:
        """The end of the answer, wrapped to ``width``; rewrapped only when something changed."""
        result = self.result
        key = (result.streamed, result.status, self.note, result.queued, width, lines)
        if self._body is None or self._body[0] != key:
            self._body = (key, self._wrapped_body(width, lines))
        return self._body[1]

    def _wrapped_body(self, width: int, lines: int) -> Text:
        result = self.result
        if result.error and result.status != "running":
            return Text(strip_controls(result.error), style="red")
        if self.note:
            return Text(self.note, style="yellow")
        text = Text()
        enough = (lines + 1) * width  # no more characters than the panel can show
        if self.show_reasoning and result.reasoning_parts:
            text.append(strip_controls(tail(result.reasoning_parts, enough)), style="dim italic")
            if result.text_parts:
                text.append("\n")
        text.append(strip_controls(tail(result.text_parts, enough)))
        wrapped = text.wrap(_MEASURE, max(width, 10))
        shown = wrapped[-lines:] if lines > 0 else []
        return Text("\n").join(shown)

    def render(self, width: int) -> Panel:
        inner = max(width - 4, 10)
        return Panel(
            self.body(inner, self.height - 2),
            title=Text(self.result.agent.label, style="bold"),
            title_align="left",
            subtitle=self.subtitle(),
            subtitle_align="right",
            border_style=STATE_STYLE.get(self.state, ""),
            height=self.height,
            width=width,
        )


_MEASURE = Console(width=200, file=None, force_terminal=False, color_system=None)
"""A console used only to wrap text; it never prints."""


class PanelGrid:
    """The references of one layer, laid out in as many columns as the terminal's width allows."""

    def __init__(self, panels: list[ReferencePanel], min_width: int = 38) -> None:
        self.panels = panels
        self.min_width = min_width

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.panels:
            return
        # Two columns spare: a ^C echoed by the terminal after a full-width last line would wrap,
        # and the live region would then erase one line too few when it is taken down.
        width = options.max_width - 2
        columns = max(1, min(len(self.panels), width // self.min_width))
        rows = math.ceil(len(self.panels) / columns)
        height = max(5, min(12, (console.height - 4) // rows))
        column_width = width // columns
        grid = Table.grid(expand=False)
        for _ in range(columns):
            grid.add_column(width=column_width)
        for row in range(rows):
            cells = []
            for panel in self.panels[row * columns : (row + 1) * columns]:
                panel.height = height
                cells.append(panel.render(column_width))
            grid.add_row(*cells)
        yield grid


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
            refresh_per_second=refresh_per_second,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.live.start()

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
                    self.console.print(block)
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
            self.console.print(Text(strip_controls(event.note), style="yellow"))
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
        if event.agent not in self.panels:
            result = next(r for r in self.result.references if r.agent == event.agent)
            self._started(AgentStarted(event.agent, result))
        self.panels[event.agent].note = note

    def _started(self, event: AgentStarted) -> None:
        agent = event.agent
        if agent.role == "reference":
            if self.layer_panels and self.layer_panels[0].result.agent.layer != agent.layer:
                self._print_layer_summary()
            if agent not in self.panels:
                self.panels[agent] = ReferencePanel(event.result, self.show_reasoning)
                self.layer_panels.append(self.panels[agent])
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
        self.console.print(Text("\n").join(lines))

    def close(self, result: MoaResult) -> None:
        self.live.stop()
        if self.aggregator is None:
            self._print_layer_summary()
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
