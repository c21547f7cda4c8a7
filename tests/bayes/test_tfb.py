"""Tests of training-free Bayesianization (TFB) of LoRA adapters.

Tiny models are built from configs (no download): a 2-layer BERT for sequence classification, a
2-layer GPT-2 for causal-LM multiple choice, and a one-layer linear classifier wrapped by peft.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

pytest.importorskip("peft")
pytest.importorskip("transformers")

from peft import LoraConfig, get_peft_model
from sklearn.base import clone

from uqkit.bayes.tfb import BayesianLoRA, TFBWarning, bayesianize_lora
from uqkit.exceptions import InvalidInputError, NotFittedError
from uqkit.prediction import ClassificationPrediction

VOCAB = 40


# ---------------------------------------------------------------------------- tiny models
def _seeded(seed, build):
    """Build a module with torch's global generator seeded inside a fork (left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _tiny_bert(num_labels=3, seed=0):
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
        num_labels=num_labels,
    )

    def build():
        base = BertForSequenceClassification(config)
        lora = LoraConfig(
            r=4, lora_alpha=8, target_modules=["query", "value"], init_lora_weights=False
        )
        return get_peft_model(base, lora).eval()

    return _seeded(seed, build)


def _tiny_gpt2(seed=0):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=VOCAB, n_positions=32, n_embd=32, n_layer=2, n_head=2)

    def build():
        lora = LoraConfig(
            r=4,
            lora_alpha=8,
            target_modules=["c_attn"],
            fan_in_fan_out=True,
            init_lora_weights=False,
        )
        return get_peft_model(GPT2LMHeadModel(config), lora).eval()

    return _seeded(seed, build)


class _Linear(torch.nn.Module):
    """Logits ``fc(x)``: the smallest model a LoRA adapter can sit on."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.fc = torch.nn.Linear(n_in, n_out)

    def forward(self, x):
        return self.fc(x)


def _tiny_linear(n_in=3, n_out=4, r=2, alpha=3, seed=0):
    def build():
        lora = LoraConfig(r=r, lora_alpha=alpha, target_modules=["fc"], init_lora_weights=False)
        return get_peft_model(_Linear(n_in, n_out), lora).eval()

    return _seeded(seed, build)


def _token_batches(n_batches=2, n=6, length=7, seed=0, pad_from=None):
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(n_batches):
        ids = torch.randint(1, VOCAB, (n, length), generator=generator)
        mask = torch.ones(n, length, dtype=torch.long)
        if pad_from is not None:
            mask[: n // 2, pad_from:] = 0
            ids[: n // 2, pad_from:] = 0
        batches.append({"input_ids": ids, "attention_mask": mask})
    return batches


def _probs(model, batch):
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    with torch.no_grad():
        logits = model(**inputs).logits
    return torch.softmax(logits.to(torch.float64), dim=-1).numpy()


# ---------------------------------------------------------------------------- σ = 0 is exact
def test_sigma_zero_reproduces_deterministic_logits_exactly():
    model = _tiny_bert()
    batches = _token_batches()
    expected = np.concatenate([_probs(model, b) for b in batches])
    tfb = BayesianLoRA(model, sigma=0.0, n_samples=3, random_state=0).fit()
    pred = tfb.predict_uncertainty(batches)
    assert isinstance(pred, ClassificationPrediction)
    assert pred.member_probs.shape == (3, 12, 3)
    for member in pred.member_probs:
        np.testing.assert_array_equal(member, expected)
    # Bit-identical members give exactly zero mutual information whatever the memory alignment:
    # the prediction averages them as an offset from the first member and computes the MI as
    # sum_k w_k KL(p_k || mean), so every term is xlogy(p, p) - xlogy(p, p) = 0 exactly.
    np.testing.assert_array_equal(pred.epistemic, 0.0)


def test_noise_never_edits_weights_and_restore_gives_the_deterministic_adapter():
    model = _tiny_bert()
    batches = _token_batches()
    before_state = {k: v.clone() for k, v in model.state_dict().items()}
    before = _probs(model, batches[0])
    tfb = bayesianize_lora(model, batches, sigma_range=(1e-3, 1.0), n_samples=4, random_state=0)
    pred = tfb.predict_uncertainty(batches[0])
    assert tfb.sigma_ > 0 and np.all(pred.epistemic > 0)
    # between uqkit calls the hooked model is still the deterministic adapter ...
    np.testing.assert_array_equal(_probs(model, batches[0]), before)
    # ... its weights were never touched, and restore removes every hook.
    assert tfb.restore() is model
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before_state[key], rtol=0, atol=0)
    assert all(not m._forward_hooks for m in model.modules())
    np.testing.assert_array_equal(_probs(model, batches[0]), before)
    with pytest.raises(NotFittedError, match="restored"):
        tfb.predict_uncertainty(batches[0])


# ---------------------------------------------------------------------------- the posterior
def test_reparameterisation_keeps_BA_and_omega_is_sigma_over_d():
    model = _tiny_bert()
    tfb = BayesianLoRA(model, sigma=0.05, random_state=0).fit()
    assert len(tfb.lora_layers_) == 4  # query and value in two layers
    factors = tfb.factors()
    for name, module in model.named_modules():
        if not hasattr(module, "lora_A") or "default" not in module.lora_A:
            continue
        a = module.lora_A["default"].weight.detach().double().numpy()
        b = module.lora_B["default"].weight.detach().double().numpy()
        f = factors[name]
        np.testing.assert_allclose(f["B_prime"] @ f["A_prime"], b @ a, atol=1e-5)
        d = np.linalg.svd(b, compute_uv=False)
        np.testing.assert_allclose(f["omega"], np.repeat((0.05 / d)[:, None], a.shape[1], 1), 1e-5)
        # B' = U diag(d) has orthogonal columns with norms d.
        gram = f["B_prime"].T @ f["B_prime"]
        np.testing.assert_allclose(gram, np.diag(d**2), atol=1e-5)
        assert f["scaling"] == 2.0


def test_sampled_weight_updates_have_the_tfb_covariance():
    """Empirical mean/covariance of the sampled updates against the closed form.

    With ``E_ij ~ N(0, σ²/d_i²)`` the noise of the update is ``s·B'E = s·U diag(d) E = s·U F``,
    ``F_ij = d_i E_ij ~ N(0, σ²)`` i.i.d. Flattening row by row (``vec_r(X) = vec(Xᵀ)``, numpy's
    ``reshape(-1)``), ``vec_r(U F) = (U ⊗ I_in) vec_r(F)``, hence
    ``Cov[vec_r ΔW] = s²σ² (U ⊗ I)(Uᵀ ⊗ I) = s²σ² (U Uᵀ ⊗ I_in)``; column-major ``vec`` gives
    ``s²σ² (I_in ⊗ U Uᵀ)``. ``U Uᵀ = B B⁺`` is the projector onto the column space of ``B``.
    """
    n_in, n_out, r, alpha, sigma = 3, 5, 2, 3, 0.3
    model = _tiny_linear(n_in, n_out, r, alpha)
    tfb = BayesianLoRA(model, sigma=sigma, random_state=1).fit()
    n = 20_000
    updates = tfb.sample_weight_updates(n)["base_model.model.fc"]  # (n, out, in), y = ΔW x
    assert updates.shape == (n, n_out, n_in)
    layer = model.base_model.model.fc
    a = layer.lora_A["default"].weight.detach().double().numpy()
    b = layer.lora_B["default"].weight.detach().double().numpy()
    s = alpha / r
    projector = b @ np.linalg.pinv(b)
    expected_cov = sigma**2 * s**2 * np.kron(projector, np.eye(n_in))
    flat = updates.reshape(n, -1)
    cov = np.cov(flat, rowvar=False)
    scale = np.max(np.diag(expected_cov))
    # each entry of a sample covariance has sd <= sqrt(2/n)·max variance; allow 5 sd
    np.testing.assert_allclose(cov, expected_cov, atol=5 * scale * np.sqrt(2 / n))
    np.testing.assert_allclose(flat.mean(0), (s * b @ a).reshape(-1), atol=5 * np.sqrt(scale / n))
    # the same covariance read column-major is I ⊗ U Uᵀ
    flat_col = updates.transpose(0, 2, 1).reshape(n, -1)
    np.testing.assert_allclose(
        np.cov(flat_col, rowvar=False),
        sigma**2 * s**2 * np.kron(np.eye(n_in), projector),
        atol=5 * scale * np.sqrt(2 / n),
    )
    # the noise lives in the r-dimensional column space of B: rank r·in
    eigenvalues = np.linalg.eigvalsh(cov)
    assert np.sum(eigenvalues > 0.1 * scale) == r * n_in


def test_weight_samples_are_the_prediction_members():
    """Member k of predict_uncertainty is the network with update k of sample_weight_updates."""
    model = _tiny_linear(n_in=3, n_out=4)
    tfb = BayesianLoRA(model, sigma=0.4, n_samples=5, random_state=3).fit()
    x = torch.randn(7, 3, generator=torch.Generator().manual_seed(0))
    pred = tfb.predict_uncertainty({"x": x})
    updates = tfb.sample_weight_updates()["base_model.model.fc"]
    base = model.base_model.model.fc.base_layer
    w = base.weight.detach().double().numpy()
    bias = base.bias.detach().double().numpy()
    for k in range(5):
        logits = x.double().numpy() @ (w + updates[k]).T + bias
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        np.testing.assert_allclose(pred.member_probs[k], probs, atol=1e-5)


def test_stacked_samples_equal_one_pass_per_sample():
    model = _tiny_bert()
    batches = _token_batches(pad_from=4)
    kwargs = {"sigma": 0.2, "n_samples": 4, "random_state": 0}
    stacked = BayesianLoRA(model, **kwargs).fit().predict_uncertainty(batches)
    looped = BayesianLoRA(model, samples_per_pass=1, **kwargs).fit().predict_uncertainty(batches)
    np.testing.assert_allclose(stacked.member_probs, looped.member_probs, atol=1e-5)
    assert np.ptp(stacked.member_probs, axis=0).max() > 1e-3  # the samples really differ


def test_same_seed_same_prediction_and_no_global_rng_use():
    model = _tiny_bert()
    batch = _token_batches(1)[0]
    state = torch.random.get_rng_state()
    first = BayesianLoRA(model, sigma=0.2, random_state=5).fit().predict_uncertainty(batch)
    assert torch.equal(state, torch.random.get_rng_state())
    second = BayesianLoRA(model, sigma=0.2, random_state=5).fit().predict_uncertainty(batch)
    other = BayesianLoRA(model, sigma=0.2, random_state=6).fit().predict_uncertainty(batch)
    np.testing.assert_array_equal(first.member_probs, second.member_probs)
    assert not np.allclose(first.member_probs, other.member_probs)


# ---------------------------------------------------------------------------- the σ search
def _search_model_and_anchors():
    model = _tiny_linear(n_in=4, n_out=2, r=2, alpha=2, seed=2)
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    return model, [{"x": x[:32]}, {"x": x[32:]}]


def test_largest_feasible_bisection_against_a_known_threshold():
    from uqkit.bayes._tfb_search import largest_feasible

    threshold = 0.0371

    def score(s):
        return {"sigma": s, "feasible": s <= threshold}

    sigma, trace = largest_feasible(score, 1e-3, 0.2, 12)
    assert sigma <= threshold < sigma + (0.2 - 1e-3) / 2**12
    assert len(trace) == 14 and trace[0]["sigma"] == 0.2 and trace[1]["sigma"] == 1e-3
    assert largest_feasible(score, 1e-3, 0.03, 5)[0] == 0.03  # σ_max feasible
    assert largest_feasible(score, 0.05, 0.2, 5)[0] == 0.0  # nothing in range feasible


def test_search_is_monotone_on_a_model_whose_loss_grows_with_sigma():
    model, anchors = _search_model_and_anchors()
    # many samples, so that the O(σ²) growth of the loss dominates its O(σ/√N) Monte Carlo term
    tfb = BayesianLoRA(
        model, sigma_range=(0.05, 2.0), n_search_steps=8, n_samples=200, random_state=0
    ).fit(anchors)
    trace = tfb.search_trace_
    grid = np.union1d(np.linspace(0.05, 2.0, 9), [t["sigma"] for t in trace])
    losses = [tfb.score_sigma(s)["loss"] for s in grid]
    assert np.all(np.diff(losses) > 0)  # the premise: l(σ) grows with σ on this model
    assert len(trace) == 10
    feasible = [t["sigma"] for t in trace if t["feasible"]]
    infeasible = [t["sigma"] for t in trace if not t["feasible"]]
    assert feasible and infeasible and max(feasible) < min(infeasible)
    assert tfb.sigma_ == max(feasible)
    by_sigma = sorted(trace, key=lambda t: t["sigma"])
    assert np.all(np.diff([t["loss"] for t in by_sigma]) > 0)
    # the bracket shrinks: every midpoint lies between the best feasible and worst infeasible so far
    low, high = trace[1]["sigma"], trace[0]["sigma"]
    for t in trace[2:]:
        assert low < t["sigma"] < high
        low, high = (t["sigma"], high) if t["feasible"] else (low, t["sigma"])


def test_returned_sigma_is_feasible_and_twice_it_is_not():
    model = _tiny_bert()
    anchors = _token_batches(2, n=8)
    tfb = bayesianize_lora(model, anchors, sigma_range=(1e-3, 1.0), n_samples=6, random_state=0)
    check = tfb.score_sigma(tfb.sigma_)
    assert check["feasible"] and check["change"] <= 0.003
    assert tfb.anchor_loss_ > 0
    if tfb.sigma_ < 1.0:
        assert not tfb.score_sigma(2 * tfb.sigma_)["feasible"]
    assert tfb.sigma_ == max(t["sigma"] for t in tfb.search_trace_ if t["feasible"])


def test_accuracy_metric_bounds_the_pseudo_label_accuracy_drop():
    model, anchors = _search_model_and_anchors()
    tfb = BayesianLoRA(model, metric="accuracy", sigma_range=(1e-3, 4.0), random_state=0)
    tfb.fit(anchors)
    assert tfb.anchor_loss_ == 1.0  # the σ = 0 model agrees with its own pseudo-labels
    for t in tfb.search_trace_:
        assert t["change"] == pytest.approx(1.0 - t["loss"])
        assert t["feasible"] == (t["change"] <= 0.01)
    assert tfb.score_sigma(tfb.sigma_)["feasible"]


def test_sigma_max_feasible_is_returned_and_sigma_min_infeasible_warns():
    model, anchors = _search_model_and_anchors()
    with pytest.warns(TFBWarning, match="top of its range"):
        wide = BayesianLoRA(model, epsilon=10.0, sigma_range=(1e-3, 0.5), random_state=0)
        wide.fit(anchors)
    assert wide.sigma_ == 0.5 and len(wide.search_trace_) == 1
    with pytest.warns(TFBWarning, match="sigma_min"):
        tight = BayesianLoRA(model, sigma_range=(1.0, 2.0), random_state=0).fit(anchors)
    assert tight.sigma_ == 0.0


def test_search_ending_at_the_top_of_its_range_warns_and_says_what_to_raise():
    # issue 17: sigma_max feasible used to be returned silently (only the bottom warned)
    model, anchors = _search_model_and_anchors()
    with pytest.warns(TFBWarning, match=r"sigma_max=0\.5.*Raise sigma_range\[1\]") as caught:
        BayesianLoRA(model, epsilon=10.0, sigma_range=(1e-3, 0.5), random_state=0).fit(anchors)
    assert [w.filename for w in caught] == [__file__]  # stacklevel=2: points at the caller
    # an interior result, and a fixed sigma (no search), stay silent
    with warnings.catch_warnings():
        warnings.simplefilter("error", TFBWarning)
        inner = BayesianLoRA(
            model, sigma_range=(0.05, 2.0), n_search_steps=4, n_samples=50, random_state=0
        ).fit(anchors)
        assert 0.05 <= inner.sigma_ < 2.0
        BayesianLoRA(model, sigma=0.5, random_state=0).fit(anchors)


# ---------------------------------------------------------------------------- causal LM
def test_causal_lm_multiple_choice_over_answer_tokens():
    model = _tiny_gpt2()
    answers = [5, 9, 13]
    batches = _token_batches(2, n=4, length=6, pad_from=3)  # right padding in half the rows
    tfb = BayesianLoRA(model, sigma=0.0, answer_token_ids=answers, n_samples=2, random_state=0)
    pred = tfb.fit().predict_uncertainty(batches)
    expected = []
    for batch in batches:
        with torch.no_grad():
            logits = model(**batch).logits.double()
        last = batch["attention_mask"].sum(1) - 1
        picked = logits[torch.arange(len(last)), last][:, answers]
        expected.append(torch.softmax(picked, -1).numpy())
    np.testing.assert_array_equal(pred.member_probs[0], np.concatenate(expected))
    assert pred.probs.shape == (8, 3)
    noisy = bayesianize_lora(
        model, batches, answer_token_ids=answers, sigma_range=(1e-3, 1.0), random_state=0
    )
    assert noisy.sigma_ > 0 and noisy.score_sigma(noisy.sigma_)["feasible"]
    assert np.all(noisy.predict_uncertainty(batches).epistemic > 0)


# ---------------------------------------------------------------------------- bad input
def test_model_without_lora_layers_is_rejected():
    with pytest.raises(InvalidInputError, match="get_peft_model"):
        BayesianLoRA(_Linear(3, 2), sigma=0.1).fit()


def test_empty_anchor_set_is_rejected():
    model = _tiny_linear()
    with pytest.raises(InvalidInputError, match="empty"):
        BayesianLoRA(model).fit([])
    with pytest.raises(InvalidInputError, match="empty"):
        BayesianLoRA(model).fit([{"x": torch.zeros(0, 3)}])
    with pytest.raises(InvalidInputError, match="anchor_data is required"):
        BayesianLoRA(model).fit()
    assert all(not m._forward_hooks for m in model.modules())


def test_other_bad_input_gets_clear_errors():
    model = _tiny_linear()
    with pytest.raises(InvalidInputError, match="dict"):
        BayesianLoRA(model).fit([torch.zeros(2, 3)])
    with pytest.raises(InvalidInputError, match="sigma_range"):
        BayesianLoRA(model, sigma_range=(0.5, 0.1)).fit([{"x": torch.zeros(2, 3)}])
    with pytest.raises(ValueError, match="metric"):
        BayesianLoRA(model, metric="brier").fit([{"x": torch.zeros(2, 3)}])
    with pytest.raises(InvalidInputError, match="answer_token_ids"):
        BayesianLoRA(model, sigma=0.1, answer_token_ids=[3, 3]).fit()
    gpt = _tiny_gpt2()
    with pytest.raises(InvalidInputError, match="answer_token_ids"):
        BayesianLoRA(gpt, sigma=0.1).fit().predict_uncertainty(_token_batches(1)[0])
    with pytest.raises(NotFittedError):
        BayesianLoRA(model).predict_uncertainty({"x": torch.zeros(2, 3)})


def test_untrained_adapter_warns():
    def build():
        lora = LoraConfig(r=2, target_modules=["fc"])  # peft default: B = 0
        return get_peft_model(_Linear(3, 2), lora)

    model = _seeded(0, build)
    with pytest.warns(TFBWarning, match="zero"):
        tfb = BayesianLoRA(model, sigma=0.5, n_samples=3).fit()
    assert np.all(tfb.predict_uncertainty({"x": torch.ones(2, 3)}).epistemic == 0)


def test_sklearn_conventions():
    model = _tiny_linear()
    tfb = BayesianLoRA(model, sigma=0.1, n_samples=3)
    assert tfb.get_params()["sigma"] == 0.1 and not hasattr(tfb, "sigma_")
    assert clone(tfb).get_params()["n_samples"] == 3
    assert repr(tfb) == "BayesianLoRA(model=<PeftModel>, n_samples=3, sigma=0.1)"
    x = {"x": torch.randn(5, 3, generator=torch.Generator().manual_seed(0))}
    tfb.fit()
    labels = tfb.predict(x)
    assert tfb.score(x, labels) == 1.0
    np.testing.assert_allclose(tfb.predict_proba(x).sum(1), 1.0)
    with tfb:
        pass
    assert all(not m._forward_hooks for m in model.modules())


def test_module_imports_without_transformers_or_peft():
    """The TFB modules load with peft/transformers unimportable; fit then names the extra."""
    code = (
        "import sys\n"
        "sys.modules['peft'] = None\n"
        "sys.modules['transformers'] = None\n"
        "import torch\n"
        "from uqkit.bayes.tfb import BayesianLoRA\n"
        "from uqkit.exceptions import MissingDependencyError\n"
        "try:\n"
        "    BayesianLoRA(torch.nn.Linear(2, 2), sigma=0.1).fit()\n"
        "except MissingDependencyError as err:\n"
        "    assert 'uqkit[llm]' in str(err), err\n"
        "else:\n"
        "    raise AssertionError('fit did not name the llm extra')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
