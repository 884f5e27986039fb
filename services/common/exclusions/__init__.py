"""Pure rules about a child's exclusions that more than one service applies (issue 14): the facts an
intake event gives, the 45 suspension days of a school year, the proceedings after an exclusion and
whether a cancellation is lawful (R-CANCEL). The intake refuses an unlawful cancellation with them;
the alerts service detects with them. No I/O here, and nothing of any service."""
