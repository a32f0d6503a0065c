"""Remote consultations 远程会诊, MDT, online ward rounds and case discussions (issue 6)."""
