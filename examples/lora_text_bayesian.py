"""A LoRA text classifier made Bayesian without training (TFB).

Sentiment classification on SST-2 sentences (shared data folder). A tiny BERT is built from a
config (no download) and trained briefly to stand in for a pre-trained model; a LoRA adapter on
its query/value projections is then fine-tuned, and :func:`uqkit.bayes.tfb.bayesianize_lora`
turns the adapter into a Bayesian one: it searches the largest noise scale sigma whose
predictions on unlabelled anchor sentences stay within a tolerance of the deterministic ones,
then predicts by averaging sampled adapters. Needs the ``llm`` extra (transformers, peft).

Run::

    python examples/lora_text_bayesian.py            # a few minutes on a CPU
    python examples/lora_text_bayesian.py --quick    # seconds (CI)
"""

from __future__ import annotations

import argparse
import os
from collections import Counter

import numpy as np
import torch

from uqkit.datasets import data_root
from uqkit.prediction import ClassificationPrediction
from uqkit.report import report

PAD, CLS, UNK = 0, 1, 2


def read_sst2(name: str, limit: int) -> tuple[list[str], np.ndarray]:
    lines = (data_root() / "text" / f"stsa.binary.{name}").read_text(encoding="latin-1")
    rows = [line.split(" ", 1) for line in lines.splitlines() if line.strip()][:limit]
    return [text for _, text in rows], np.array([int(label) for label, _ in rows])


def encode(texts: list[str], vocab: dict[str, int], length: int) -> dict[str, torch.Tensor]:
    ids = torch.full((len(texts), length), PAD, dtype=torch.long)
    for row, text in enumerate(texts):
        words = text.lower().split()[: length - 1]
        tokens = [CLS, *(vocab.get(word, UNK) for word in words)]
        ids[row, : len(tokens)] = torch.tensor(tokens)
    return {"input_ids": ids, "attention_mask": (ids != PAD).long()}


def batches(inputs: dict[str, torch.Tensor], size: int) -> list[dict[str, torch.Tensor]]:
    n = len(inputs["input_ids"])
    return [{k: v[i : i + size] for k, v in inputs.items()} for i in range(0, n, size)]


def train(model, inputs, labels, epochs: int, lr: float) -> None:
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr)
    y = torch.as_tensor(labels)
    model.train()
    for _ in range(epochs):
        for start in range(0, len(y), 32):
            batch = {k: v[start : start + 32] for k, v in inputs.items()}
            loss = model(**batch, labels=y[start : start + 32]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()


@torch.no_grad()
def predict_proba(model, inputs) -> np.ndarray:
    logits = torch.cat([model(**batch).logits for batch in batches(inputs, 256)])
    return torch.softmax(logits, dim=-1).numpy()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run for tests (seconds)")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("UQKIT_EXAMPLE_QUICK") == "1"

    from uqkit.exceptions import require

    require("transformers", "llm")
    require("peft", "llm")
    from peft import LoraConfig, get_peft_model
    from transformers import BertConfig, BertForSequenceClassification

    from uqkit.bayes.tfb import bayesianize_lora

    n_train, n_test, epochs = (128, 64, 1) if quick else (6920, 1821, 3)
    train_texts, y_train = read_sst2("train", n_train)
    test_texts, y_test = read_sst2("test", n_test)
    counts = Counter(word for text in train_texts for word in text.lower().split())
    vocab = {word: i + 3 for i, (word, _) in enumerate(counts.most_common(5000))}
    X_train, X_test = encode(train_texts, vocab, 48), encode(test_texts, vocab, 48)

    torch.manual_seed(0)  # this script's own model init; uqkit itself never seeds globally
    config = BertConfig(vocab_size=len(vocab) + 3, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, num_labels=2)
    base = BertForSequenceClassification(config)
    train(base, X_train, y_train, epochs=epochs, lr=1e-3)  # stands in for pre-training

    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"]))
    train(model, X_train, y_train, epochs=epochs, lr=2e-3)  # fine-tune the adapter only
    probs = predict_proba(model, X_test)

    anchors = batches(encode(train_texts[:64], vocab, 48), 32)  # labels are not used
    tfb = bayesianize_lora(
        model, anchors, n_samples=2 if quick else 10, n_search_steps=2 if quick else 10,
        random_state=0,
    )
    print(f"TFB noise scale: sigma = {tfb.sigma_:.4g} (after {len(tfb.search_trace_)} steps)")
    pred = tfb.predict_uncertainty(batches(X_test, 256))
    print(f"member_probs {pred.member_probs.shape}: samples x sentences x classes")

    rep = report(
        {"LoRA (deterministic)": ClassificationPrediction(probs), "LoRA + TFB": pred},
        None,
        y_test,
    )
    summary = rep.to_markdown()
    print(summary[summary.find("| metric") : summary.find("## Verdicts")].strip())
    tfb.restore()  # removes the sampling hooks: the deterministic adapter again


if __name__ == "__main__":
    main()
