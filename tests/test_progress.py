"""Progress on stderr: only for a person at a terminal, only after the delay, colour unless NO_COLOR."""

from __future__ import annotations

import io
import threading

import pytest

from mlplatform.progress import progress


class FakeTerminal(io.StringIO):
    def __init__(self, tty: bool = True):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


TTY_ENV = {"TERM": "xterm-256color"}


def run(stream: FakeTerminal, env: dict, seconds_per_step: float, steps: int = 5,
        total: int | None = 5) -> str:
    clock = FakeClock()
    with progress("rendering", total, stream=stream, env=env, clock=clock) as bar:
        for index in range(steps):
            clock.now += seconds_per_step
            bar.advance(note=f"cluster-{index}")
    return stream.getvalue()


def test_short_run_on_a_terminal_prints_nothing() -> None:
    assert run(FakeTerminal(), TTY_ENV, seconds_per_step=0.1) == ""


def test_long_run_on_a_terminal_draws_counts_and_a_final_timing_line() -> None:
    out = run(FakeTerminal(), TTY_ENV, seconds_per_step=1.0)
    # first draw after 2 s (step 2), then steps 3, 4, 5, then the final line
    assert out.count("\r") == 5
    assert "2/5 (40%) 2.0s cluster-1" in out
    assert "5/5 (100%) 5.0s cluster-4 done" in out
    assert out.endswith("\n")
    assert "\x1b[1;36mrendering\x1b[0m" in out  # colour on a terminal without NO_COLOR


def test_no_color_removes_every_escape_sequence() -> None:
    out = run(FakeTerminal(), {**TTY_ENV, "NO_COLOR": "1"}, seconds_per_step=1.0)
    assert "5/5 (100%)" in out
    assert "\x1b" not in out


def test_no_color_pads_over_a_longer_previous_line() -> None:
    clock = FakeClock()
    stream = FakeTerminal()
    with progress("x", None, stream=stream, env={"NO_COLOR": "1"}, clock=clock) as bar:
        clock.now += 3
        bar.advance(note="a-very-long-cluster-name")
        clock.now += 1
        bar.advance(note="b")
    lines = stream.getvalue().rstrip("\n").split("\r")[1:]
    assert len(lines) == 3
    assert len(lines[1]) >= len(lines[0])  # the shorter line overwrote every character of the longer one


@pytest.mark.parametrize("env", [{"CI": "true"}, {"MLPLATFORM_NO_PROGRESS": "1"}, {"TERM": "dumb"}])
def test_ci_and_opt_out_are_silent(env: dict) -> None:
    assert run(FakeTerminal(), env, seconds_per_step=1.0) == ""


def test_not_a_terminal_is_silent() -> None:
    assert run(FakeTerminal(tty=False), TTY_ENV, seconds_per_step=1.0) == ""


def test_redraws_are_rate_limited() -> None:
    out = run(FakeTerminal(), TTY_ENV, seconds_per_step=0.01, steps=1000, total=1000)
    # 10 s of work at 10 redraws/s after the 2 s delay: about 80 redraws, not 800
    assert 60 <= out.count("\r") <= 100


def test_unknown_total_shows_a_count() -> None:
    out = run(FakeTerminal(), TTY_ENV, seconds_per_step=1.0, total=None)
    assert " 5 5.0s" in out
    assert "%" not in out


def test_an_exception_ends_the_line_as_stopped_and_propagates() -> None:
    clock = FakeClock()
    stream = FakeTerminal()
    with pytest.raises(RuntimeError):
        with progress("check", 3, stream=stream, env=TTY_ENV, clock=clock) as bar:
            clock.now += 3
            bar.advance()
            raise RuntimeError("boom")
    assert stream.getvalue().endswith("stopped\n")


def test_advance_from_threads_counts_every_step() -> None:
    with progress("render", 400, stream=FakeTerminal(tty=False), env={}) as bar:
        threads = [threading.Thread(target=lambda: [bar.advance() for _ in range(100)]) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert bar.done == 400


def test_default_stream_is_stderr_and_stays_silent_under_pytest(capsys: pytest.CaptureFixture[str]) -> None:
    with progress("check", 1) as bar:
        bar.advance()
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
