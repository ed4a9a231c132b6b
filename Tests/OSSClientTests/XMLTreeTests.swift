// The XML scanner behind every OSS answer: what it keeps, what it skips, what it refuses.
import Testing
@testable import OSSClient

private func parse(_ s: String) -> XMLNode? { XMLNode.parse(Array(s.utf8)) }

@Suite struct XMLTreeTests {
    @Test func listingPageWithDeclarationEntitiesAndNesting() throws {
        let doc = try #require(parse("""
            <?xml version="1.0" encoding="UTF-8"?>
            <!-- a comment <with> brackets -->
            <ListBucketResult xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com">
              <Name>bucket</Name>
              <Contents><Key>a&amp;b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#233;&#x4E2D;</Key><Size>12</Size></Contents>
              <Contents><Key><![CDATA[raw <&> text]]></Key><Owner/></Contents>
              <IsTruncated>false</IsTruncated>
            </ListBucketResult>
            """))
        #expect(doc.name == "ListBucketResult")
        #expect(doc.text("Name") == "bucket" && doc.text("IsTruncated") == "false")
        let contents = doc.all("Contents")
        #expect(contents.count == 2)
        #expect(contents[0].text("Key") == "a&b <c> \"d\" 'e' é中" && contents[0].text("Size") == "12")
        #expect(contents[1].text("Key") == "raw <&> text")
        #expect(contents[1].child("Owner")?.children.isEmpty == true && contents[1].text("Missing") == nil)
    }

    @Test func attributesWithQuotedBracketsAreSkipped() throws {
        let doc = try #require(parse(#"<Error kind="a>b" other='x'><Code>NoSuchKey</Code></Error>"#))
        #expect(doc.text("Code") == "NoSuchKey" && doc.children.count == 1)
    }

    @Test(arguments: [
        "", "plain text", "<A>", "<A></B>", "<A><B></A></B>", "<A>x</A><B/>", "<A>&bogus;</A>", "<A>&amp</A>",
        "<A><!-- unterminated </A>", "<A attr=\"x></A>", "<>x</>", "text<A/>",
    ])
    func malformedDocumentsAreRefused(_ s: String) {
        #expect(parse(s) == nil)
    }
}
