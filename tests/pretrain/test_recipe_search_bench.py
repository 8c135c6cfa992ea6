"""benchmarks/recipe_search.py keeps the levers its old rows compared (residual target, zero head, last_patch_skip)
in its own FuturePixels subclass, which ``ssl-video fit`` imports by class path."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path

import torch

from ssl_video.pretrain.objectives import FuturePixels

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("recipe_search", ROOT / "benchmarks" / "recipe_search.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)
Recipe = bench.RecipeFuturePixels
SMALL = dict(predictor_dim=24, predictor_depth=1)


def test_residual_target_with_a_zero_head_starts_as_copy_last_and_gives_the_encoder_no_gradient(tiny_encoder, clip):
    grads = {}
    for zero_head in (True, False):
        torch.manual_seed(0)
        obj = Recipe(target="residual", latent_copy=False, zero_head=zero_head, **SMALL)
        obj.attach(tiny_encoder)
        tiny_encoder.zero_grad()
        out = obj(tiny_encoder, clip, context=4, generator=torch.Generator())
        if zero_head:
            torch.testing.assert_close(out.future, clip[:, :, 3:4].expand(-1, -1, 4, -1, -1))
            torch.testing.assert_close(out.loss, ((clip[:, :, 4:] - clip[:, :, 3:4]) ** 2).mean())
            torch.testing.assert_close(out.copy_last_loss, out.loss)
        out.loss.backward()
        grads[zero_head] = tiny_encoder.patch_embed.weight.grad.abs().sum().item()
    assert grads[True] == 0 and grads[False] > 0  # the no_skip row's trap: its head stays near zero


def test_last_patch_skip_starts_at_copy_last_and_learns(tiny_encoder, clip):
    obj = Recipe(target="residual", last_patch_skip=True, latent_copy=False, **SMALL)
    obj.attach(tiny_encoder)
    out = obj(tiny_encoder, clip, context=4, generator=torch.Generator())
    torch.testing.assert_close(out.future, clip[:, :, 3:4].expand(-1, -1, 4, -1, -1))
    out.loss.backward()
    assert obj.skip.weight.grad.abs().sum() > 0


def test_with_its_defaults_it_is_the_library_objective(tiny_encoder, clip):
    recipe, library = Recipe(**SMALL), FuturePixels(**SMALL)
    recipe.attach(tiny_encoder)
    library.attach(tiny_encoder)
    library.load_state_dict(recipe.state_dict())
    a, b = (o(tiny_encoder, clip, context=4, generator=torch.Generator()) for o in (recipe, library))
    for name in ("loss", "future", "copy_last_loss", "features"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name))
    assert Recipe(**recipe.describe()["init_args"]).describe() == recipe.describe()


def test_every_recipe_names_an_importable_objective(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))  # `ssl-video fit` runs in the repository's root
    sys.modules.pop("benchmarks.recipe_search", None)
    for _, overrides in bench.RECIPES.values():
        for flag, value in zip(overrides, overrides[1:]):
            if flag == "--model.objectives":
                for entry in json.loads(value):
                    module, name = entry["class_path"].rsplit(".", 1)
                    getattr(importlib.import_module(module), name)(**entry["init_args"])
    assert bench.PIXELS == "benchmarks.recipe_search.RecipeFuturePixels"
    Recipe(**bench.BASE_PIXELS)  # the objective every row starts from
