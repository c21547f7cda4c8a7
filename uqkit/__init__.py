"""uqkit: uncertainty quantification on PyTorch behind one scikit-learn interface.

Examples
--------
>>> import uqkit
>>> uqkit.RegressionPrediction.normal([0.0], [1.0]).interval(0.1)[1].round(3)
array([1.645])
"""

from uqkit.base import load
from uqkit.prediction import ClassificationPrediction, RegressionPrediction

__version__ = "0.1.0"

__all__ = [
    "ClassificationPrediction",
    "RegressionPrediction",
    "__version__",
    "load",
]
