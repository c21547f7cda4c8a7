from uqkit.bayes._bnn import BayesianMLPClassifier, BayesianMLPRegressor
from uqkit.bayes._gp import GPClassifier, GPRegressor
