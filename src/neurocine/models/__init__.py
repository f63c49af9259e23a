"""Estimators (scikit-learn conventions)."""
