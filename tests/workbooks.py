"""Workbooks written by hand for tests: every part says exactly what a test needs."""
import zipfile

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
WORKBOOK = (f'<workbook xmlns="{MAIN}" xmlns:r="{RELATIONSHIPS}"><workbookPr date1904="{{date1904}}"/>'
            f'<sheets><sheet name="Staff" sheetId="1" r:id="rId1"/></sheets></workbook>')
WORKBOOK_RELS = (
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{RELATIONSHIPS}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{RELATIONSHIPS}/sharedStrings" Target="sharedStrings.xml"/>'
    f'<Relationship Id="rId3" Type="{RELATIONSHIPS}/styles" Target="/xl/styles.xml"/></Relationships>')
STYLES = (f'<styleSheet xmlns="{MAIN}"><numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm"/>'
          '</numFmts><cellStyleXfs count="1"><xf numFmtId="14"/></cellStyleXfs><cellXfs count="3">'
          '<xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="164"/></cellXfs></styleSheet>')


def write_workbook(path, sheet_data, *, shared_strings="", dimension="", date1904=0, workbook=None, prolog="",
                   after_data=""):
    """An .xlsx written by hand, so that its parts say exactly what a test
    needs. sheet_data is the XML inside <sheetData>: a str, or an iterable
    of bytes streamed into the ZIP; after_data the XML after it (such as
    <mergeCells>)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("xl/workbook.xml", workbook or WORKBOOK.format(date1904=date1904))
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        archive.writestr("xl/styles.xml", STYLES)
        archive.writestr("xl/sharedStrings.xml", f'<sst xmlns="{MAIN}">{shared_strings}</sst>')
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(f'{prolog}<worksheet xmlns="{MAIN}">{dimension}<sheetData>'.encode())
            for piece in [sheet_data.encode()] if isinstance(sheet_data, str) else sheet_data:
                sheet.write(piece)
            sheet.write(f"</sheetData>{after_data}</worksheet>".encode())
    return str(path)
