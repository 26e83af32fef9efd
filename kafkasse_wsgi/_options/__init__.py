"""What :class:`~kafkasse_wsgi.options.Options` is built from; :mod:`kafkasse_wsgi.options`
is the public face and holds the table of fields.

- :mod:`.fields`: how a field is declared (its check, its text form) and the checks.
- :mod:`.text`: how an option is written on the ``serve`` command line and in variables.
- :mod:`.defaults`: the named defaults ``Options`` inherits (``Options.DEFAULT_QUEUE_SIZE``).
- :mod:`.rules`: the checks across fields, run after each field's own.
- :mod:`.names`: a name that is no option, and the option it was probably meant to be.
- :mod:`.resume_policy`: :class:`~kafkasse_wsgi.options.ResumePolicy`, a value of its own.
- :mod:`.hooks`: the lifecycle hooks of ``kafka_event_handlers``, and how one is called.
"""
