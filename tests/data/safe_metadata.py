"""Product metadata in the layout of ESA's MTD_MSIL1C.xml / MTD_MSIL2A.xml, for the tests (no GDAL needed)."""

SPECTRAL_ORDER = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")


def metadata_xml(level, baseline, date, offsets=True):
    """Product metadata in the layout of ESA's MTD_MSIL1C.xml / MTD_MSIL2A.xml."""
    l2a = level == "L2A"
    root = "Level-2A_User_Product" if l2a else "Level-1C_User_Product"
    offset_tag, list_tag = ("BOA_ADD_OFFSET", "BOA_ADD_OFFSET_VALUES_LIST") if l2a else \
        ("RADIO_ADD_OFFSET", "Radiometric_Offset_List")
    quantification = ("<QUANTIFICATION_VALUES_LIST><BOA_QUANTIFICATION_VALUE unit=\"none\">10000"
                      "</BOA_QUANTIFICATION_VALUE></QUANTIFICATION_VALUES_LIST>") if l2a else \
        "<QUANTIFICATION_VALUE unit=\"none\">10000</QUANTIFICATION_VALUE>"
    offset_list = "<%s>%s</%s>" % (list_tag, "".join('<%s band_id="%d">-1000</%s>' % (offset_tag, i, offset_tag)
                                                       for i in range(13)), list_tag) if offsets else ""
    spectral = "<Spectral_Information_List>%s</Spectral_Information_List>" % "".join(
        '<Spectral_Information bandId="%d" physicalBand="%s"/>' % (i, b) for i, b in enumerate(SPECTRAL_ORDER))
    return ('<?xml version="1.0" encoding="UTF-8"?><n1:%s xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/x.xsd">'
            "<n1:General_Info><Product_Info><PRODUCT_START_TIME>%sT15:56:32.026Z</PRODUCT_START_TIME>"
            "<PROCESSING_LEVEL>Level-%s</PROCESSING_LEVEL><PROCESSING_BASELINE>%s</PROCESSING_BASELINE>"
            "</Product_Info><Product_Image_Characteristics>%s%s%s</Product_Image_Characteristics>"
            "</n1:General_Info></n1:%s>") % (root, date.isoformat(), level[1:], baseline, quantification,
                                             offset_list, spectral, root)
