"""The referrals service: routing policy, consent, referrals and their delivery."""
