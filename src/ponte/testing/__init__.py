"""Run sandboxes and Singer plugins as separate processes, the way users and Meltano run them.

Used by the test suite and the benchmarks; also handy for anyone testing their own declarations.
"""

from ponte.sandbox.process import SandboxProcess
from ponte.testing.singer_process import BackgroundTap, SingerRun, console_script, discover, run_tap, select_only

__all__ = ["BackgroundTap", "SandboxProcess", "SingerRun", "console_script", "discover", "run_tap", "select_only"]
