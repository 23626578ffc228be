"""A process killed (SIGKILL) while writing a checkpoint leaves the previous one in charge."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from maskrcnn_ext.engine.checkpoint import Checkpointer

CHILD = textwrap.dedent("""
    import os, sys, time
    import torch
    from maskrcnn_ext.engine import checkpoint

    torch.manual_seed(0)
    saver = checkpoint.Checkpointer(torch.nn.Linear(3, 2), sys.argv[1])
    saver.save("model_0000009", iteration=9)

    def stalled(data, f):  # half a file on disk, then the process is killed
        f.write(b"PK\\x03\\x04 partial checkpoint")
        f.flush()
        os.fsync(f.fileno())
        print("writing", flush=True)
        time.sleep(120)

    torch.save = stalled
    saver.save("model_0000019", iteration=19)
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_resume_after_a_kill_mid_checkpoint_uses_the_previous_complete_one(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert child.stdout.readline().strip() == "writing"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    names = sorted(os.listdir(tmp_path))
    assert "model_0000019.pth" not in names and any(n.startswith(".model_0000019.pth") for n in names)  # the temp file
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000009.pth"

    torch.manual_seed(0)
    expected = nn.Linear(3, 2).state_dict()
    model = nn.Linear(3, 2)
    state = Checkpointer(model, str(tmp_path)).resume_or_load(None, resume=True)
    assert state["iteration"] == 9
    assert all(torch.equal(model.state_dict()[k], expected[k]) for k in expected)
