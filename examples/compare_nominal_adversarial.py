"""Train a nominal and an adversarially trained tagger on toy jets and compare them under FGSM.

The same functions the CLI calls (``hepadv train cards/adv.yaml``), from Python:

    python examples/compare_nominal_adversarial.py            # quick: 60k jets, 4 epochs
    python examples/compare_nominal_adversarial.py --full     # the full cards/adv.yaml settings
"""

from __future__ import annotations

import sys
from pathlib import Path

from hepadv.cards import load_card
from hepadv.evaluation.runner import evaluate_run
from hepadv.runs import load_trained
from hepadv.training.loop import train

CARD = Path(__file__).resolve().parents[1] / "cards" / "adv.yaml"
QUICK = ["dataset.params.n_jets=60000", "training.epochs=4", "evaluation.max_jets=20000", "output=runs/example"]


def main(argv: list[str]) -> dict:
    card = load_card(CARD, [] if "--full" in argv else QUICK + [a for a in argv if "=" in a])
    trained = train(card, overwrite=True)
    results = evaluate_run(card, data=trained.data)
    labels = {a["id"]: a["label"] for a in results["attacks"]}  # metrics are keyed by stable attack ids
    for name, rows in results["comparison"]["table"].items():
        for attack_id, discs in rows.items():
            bvsl = discs["BvsL"]
            print(f"{name:12s} BvsL AUC raw {bvsl['raw']:.4f}  {labels[attack_id]}: {bvsl['attacked']:.4f} "
                  f"(drop {-bvsl['delta']:.4f})")
    # a trained model loads from its run directory alone, e.g. to score new inputs
    nominal = load_trained(card.output_dir(), "nominal")
    print(f"nominal model: {nominal.spec.n_features} inputs, classes {', '.join(nominal.classes)}, "
          f"epoch {nominal.epoch}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
