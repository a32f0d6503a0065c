"""FHIR R4 facade: read and search over Yilian's records as FHIR resources.

Layout (each capability adds one mapping module and one line in ``router.py``):

- ``systems``    — the URIs of Yilian's own identifier systems and code systems.
- ``search``     — parsing FHIR search parameters (strict by default) and SQL helpers;
  ``dates`` — date values with prefixes and precision.
- ``bundle``     — validation against ``fhir.resources`` R4B models, searchset Bundles
  with paging links, the ``application/fhir+json`` response.
- ``capability`` — :class:`ResourceHandler`, the declaration of one resource type
  (its read, its search, its parameters, the permission it needs); the
  CapabilityStatement is generated from the same declarations, so it never drifts.
- ``registry`` — registry records mapped to Organization, Location, Practitioner and
  PractitionerRole; ``registry_search`` (Organization, Location) and
  ``practitioner_search`` (Practitioner, PractitionerRole) read and search them.
- ``audit`` — AuditEvent from the audit trail (mapping, read and search).
- ``patient`` — persons of the patient index as Patient, and posted Patients read back
  into the index's terms; ``patient_search`` (read, search, create) and ``patient_match``
  (``Patient/$match``). Patient is routed by hand, its routes needing the settings.
- ``router``     — ``/fhir/r4``: ``metadata`` (public) and, per handler, read and search;
  Patient's read, search, create and ``$match``.

Mapping functions build plain dicts; every resource leaving the server is validated
with the R4B model of its type before it is sent.
"""
