import pytest
import torch
from modeling_toys import build_tiny_model


@pytest.fixture
def tiny_model():
    torch.manual_seed(0)
    return build_tiny_model()
