// MLCycleMonitor: drift statistics, windows and alert rules. Depends on MLCycleData and MLCycleQuality.
// Built by the monitoring issue; empty until then.
