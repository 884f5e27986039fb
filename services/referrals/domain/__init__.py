"""Pure domain logic of the referrals service: reasons and labels, consent, lifecycle. No I/O here."""
