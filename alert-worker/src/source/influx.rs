//! InfluxDB 1.x/2.x/3.x through the v1 `/query` endpoint (being written).
