"""Tasks built on tinvnn: data, objective, model and training algorithm for each problem."""
