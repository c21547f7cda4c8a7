"""Small helpers above every family: the estimator registry.

This package imports the families (it walks them), so nothing below it may import it, and
``uqkit/__init__.py`` does not re-export it: use ``from uqkit.utils import all_estimators``.

Examples
--------
>>> from uqkit.utils import all_estimators
>>> dict(all_estimators())["GPRegressor"].__name__
'GPRegressor'
"""

from uqkit.utils._registry import all_estimators

__all__ = ["all_estimators"]
