"""Tooling that runs several components together (calibration against the simulator).

Why a package of its own: the edge and the simulator do not import each other, and the shared package
imports no component (docs/architecture.md, "Layers"); what needs both lives here. Nothing at run time
imports it.
"""
