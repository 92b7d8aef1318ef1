"""Forecasting models, one module per family, each a plain numpy/pandas function.

A model takes the demand history ``y`` (one value per day, oldest first, no gaps) and a
horizon and returns point forecasts for the next ``horizon`` days.
"""
