from __future__ import annotations

import pytest
import torch
from torch import nn

from ssl_video.optim import decays, param_groups, warmup_cosine


def test_warmup_cosine_schedule():
    values = [warmup_cosine(s, 10, 110, 0.1) for s in range(111)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert values[60] == pytest.approx(0.55) and values[110] == pytest.approx(0.1)
    assert warmup_cosine(500, 10, 110, 0.1) == pytest.approx(0.1)  # stays at the floor after the end
    assert warmup_cosine(60, 10, 110) == pytest.approx(0.5) and warmup_cosine(110, 10, 110) == 0.0


def test_param_groups_decay_matrices_and_embeddings_only():
    model = nn.Sequential(nn.Embedding(5, 4), nn.Linear(4, 3), nn.LayerNorm(3), nn.Conv1d(3, 2, 1))
    model[3].weight.requires_grad_(False)  # frozen tensors are left out
    groups = param_groups(model.parameters(), 0.05, lr=0.1)
    assert [g["weight_decay"] for g in groups] == [0.05, 0.0] and all(g["lr"] == 0.1 for g in groups)
    names = {id(p): n for n, p in model.named_parameters()}
    assert [names[id(p)] for p in groups[0]["params"]] == ["0.weight", "1.weight"]
    assert [names[id(p)] for p in groups[1]["params"]] == ["1.bias", "2.weight", "2.bias", "3.bias"]
    bias = nn.Parameter(torch.zeros(3))
    assert param_groups([bias], 0.05) == [{"params": [bias], "weight_decay": 0.0}]  # no empty group
    assert decays(torch.zeros(2, 3)) and not decays(torch.zeros(3))


def test_a_learned_position_table_is_never_decayed():
    """Future objectives show the encoder the context only: the future rows of a learned position table (a
    converted VideoMAE's) get no gradient, so weight decay alone would shrink them towards 0."""
    from ssl_video.models import get_encoder
    from ssl_video.optim import no_weight_decay

    encoder = get_encoder("vit_tiny", img_size=32, num_frames=4, tubelet=(2, 8, 8), embed_dim=48, depth=1,
                          num_heads=3, pos_embed="learned")
    groups = param_groups(encoder.parameters(), 0.05, no_decay=no_weight_decay(encoder))
    decayed, kept = ({id(p) for p in g["params"]} for g in groups)
    assert id(encoder.pos_embed) in kept and groups[1]["weight_decay"] == 0.0
    assert id(encoder.pos_embed) not in decayed and id(encoder.patch_embed.weight) in decayed
