# src/cli.mk: automake fragment (index/locate/eval commands, batch, evalmetrics)
