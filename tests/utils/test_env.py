import subprocess
import sys

import pytest
import torch

from maskrcnn_ext.utils.env import peak_rss_mib


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss survives exec on Linux")
def test_peak_rss_of_a_child_does_not_include_its_parent():
    held = torch.ones(512 * 2**20 // 4)  # 512 MiB touched by this process
    parent = peak_rss_mib()
    code = "from maskrcnn_ext.utils.env import peak_rss_mib; print(peak_rss_mib())"
    child = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout)
    assert held.numel() and parent > 512
    assert child < parent - 400  # ru_maxrss would have reported at least the parent's peak here
