"""Two-way referral 双向转诊: up, down and lateral, with a closed loop and green channels."""
