"""Cardiac velocity twins (the HDL paper): a short-axis LV phantom with analytic velocities,
velocity assessment, temporal interpolation and phase synthesis. Synthetic subjects only: no
cardiac MR ships in any package this app can install."""
