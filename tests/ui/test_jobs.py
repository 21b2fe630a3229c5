"""The job runner ends every job: a RuntimeError raised inside a generator job (torch's
state-dict mismatch, its out-of-memory error) is reported, and the runner is free again."""

from headtwin_app.ui.jobs import JobRunner


def _failing_steps():
    yield "loading", 0.1
    raise RuntimeError("Error(s) in loading state_dict for R2UNet: size mismatch")


def test_runtime_error_in_a_generator_job_ends_the_job(qtbot):
    runner = JobRunner()
    errors = []
    with qtbot.waitSignal(runner.failed, timeout=5000) as failed:
        assert runner.start("load model", _failing_steps, on_error=errors.append)
    assert not runner.is_busy
    assert "size mismatch" in failed.args[1] and errors == [failed.args[1]]
    # and the next job runs
    results = []
    with qtbot.waitSignal(runner.done, timeout=5000):
        assert runner.start("next", lambda: 42, on_result=results.append)
    assert results == [42]
