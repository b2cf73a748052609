package intake

import "contactpoint/adapters/metrics"

// counted adds confirmed outcomes to the intake metric under the channel's
// authenticated agency and system (an unauthenticated origin has none).
func counted(o Origin, outs ...Outcome) {
	agency, system := o.Agency, o.System
	if agency == "" {
		agency = "unknown"
	}
	if system == "" {
		system = "unknown"
	}
	for _, out := range outs {
		metrics.IntakeRecords.WithLabelValues(agency, system, out.Status).Inc()
	}
}
