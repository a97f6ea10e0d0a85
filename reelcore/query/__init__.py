"""Query: the read side over the visual index: search (SearchService), scenes, timeline, frames,
overview, scoring, heatmap; readdeps names what each view needs from the service.
"""
