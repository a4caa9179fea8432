"""matplotlib for hwkeras's figures, drawn with the Agg backend (no display): the report's curves
and the sweep's trade-off plot. Every figure is saved to a path or a file object, then closed."""


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt
