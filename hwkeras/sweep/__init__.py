"""Many runs, one answer: ``hwkeras sweep``'s library (docs/SWEEPS.md).

    grid       the trials: models x grid values x seeds, and their names
    measure    what each trial measures of its model: metrics under both protocols, held-out
               reconstruction NLL, the codes UDR compares
    results    results.csv, summary.csv, tradeoff.png from the trials' records
    selection  UDR across seeds and all-to-all, the choice, its agreement with the metrics
    directory  the sweep directory as a whole: sweep.json, unfinished trials, aggregation
    runner     Ray Tune (imported only here, and only when a sweep runs)

Nothing here imports Ray, Keras or TensorFlow at import time.
"""
