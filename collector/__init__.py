"""schoolnet collector: MQTT in, validated points out to the time-series store."""
