"""Training-free Bayesianization (TFB) of LoRA adapters: public names.

Importing this module needs only torch; ``transformers``/``peft`` are imported when a model is
Bayesianized (``pip install 'uqkit[llm]'``). See :mod:`uqkit.bayes._tfb` for the method.

Examples
--------
>>> from uqkit.bayes.tfb import BayesianLoRA, bayesianize_lora
>>> BayesianLoRA(model=None).get_params()["n_samples"]
10
"""

from uqkit.bayes._tfb import BayesianLoRA, TFBWarning, bayesianize_lora

__all__ = ["BayesianLoRA", "TFBWarning", "bayesianize_lora"]
